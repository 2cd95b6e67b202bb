import Testing
@testable import VeilHTTP2

typealias A = H2ConnectionMachine.Action

@Suite("H2ConnectionMachine: streams")
struct H2ConnectionMachineTests {
    @Test func prefaceAndSettings() {
        var c = H2ConnectionMachine(.init(role: .client, streamWindow: 1 << 20, connectionWindow: 1 << 24))
        c.start()
        #expect(c.outbound.starts(with: H2.clientPreface))
        #expect(frames(c.outbound) == [
            .settings(H2Settings(enablePush: false, initialWindowSize: 1 << 20, maxFrameSize: 16_384, maxHeaderListSize: 65_536)),
            .windowUpdate(stream: 0, increment: UInt32((1 << 24) - 65_535)),
        ])
    }

    @Test func connectStreamBothWaysAndHalfClose() throws {
        var p = H2Pair()
        let id = try p.client.openConnect(authority: "example.com:443",
                                          extra: [HPACKHeader(name: "proxy-authorization", value: "Bearer s3cret")])
        #expect(id == 1)
        p.pump()
        #expect(p.takeServer() == [.request(stream: 1, headers: [
            HPACKHeader(name: ":method", value: "CONNECT"), HPACKHeader(name: ":authority", value: "example.com:443"),
            HPACKHeader(name: "proxy-authorization", value: "Bearer s3cret")])])
        p.server.respond(stream: 1, status: 200, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.response(stream: 1, status: 200, fields: [])])
        #expect(p.client.sendData(stream: 1, Array("hello".utf8)[...], endStream: false, actions: &p.clientActions) == 5)
        p.server.sendData(stream: 1, Array("world".utf8)[...], endStream: true, actions: &p.serverActions)
        p.pump()
        #expect(p.takeServer() == [.data(stream: 1, bytes: Array("hello".utf8)[...])])
        #expect(p.takeClient() == [.data(stream: 1, bytes: Array("world".utf8)[...]), .remoteEnd(stream: 1)])
        #expect(p.client.openStreams == 1)  // half-closed: our side still open
        p.client.sendData(stream: 1, [][...], endStream: true, actions: &p.clientActions)
        p.pump()
        #expect(p.takeClient() == [.closed(stream: 1)])
        #expect(p.takeServer() == [.remoteEnd(stream: 1), .closed(stream: 1)])
        #expect(p.client.openStreams == 0 && p.server.openStreams == 0)
    }

    @Test func refusedAnswerEndsTheStream() throws {
        var p = H2Pair()
        let id = try p.client.openConnect(authority: "blocked.example:443")
        p.pump()
        _ = p.takeServer()
        p.server.respond(stream: id, status: 403, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.response(stream: id, status: 403, fields: [])])
        #expect(p.client.openStreams == 0)
        #expect(p.server.openStreams == 0)
    }

    /// The Veil relay's RESOLVE: a request with no body (END_STREAM on its HEADERS); the answer's
    /// fields reach the client, and a refusal carries its reason field too.
    @Test func requestWithoutBodyGetsItsFields() throws {
        var p = H2Pair()
        let id = try p.client.openStream(method: "RESOLVE", authority: "example.com:443",
                                         extra: [HPACKHeader(name: "veil-want", value: "https")], endStream: true)
        p.pump()
        #expect(p.takeServer() == [.request(stream: id, headers: [
            HPACKHeader(name: ":method", value: "RESOLVE"), HPACKHeader(name: ":authority", value: "example.com:443"),
            HPACKHeader(name: "veil-want", value: "https")]), .remoteEnd(stream: id)])
        let fields = [HPACKHeader(name: "veil-addresses", value: "192.0.2.1"), HPACKHeader(name: "veil-ttl", value: "30")]
        p.server.respond(stream: id, status: 200, extra: fields, actions: &p.serverActions)
        p.server.sendData(stream: id, [][...], endStream: true, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.response(stream: id, status: 200, fields: fields), .remoteEnd(stream: id), .closed(stream: id)])
        #expect(p.takeServer() == [.closed(stream: id)])

        let refused = try p.client.openStream(method: "RESOLVE", authority: "nowhere.test:443", endStream: true)
        p.pump()
        _ = p.takeServer()
        let reason = [HPACKHeader(name: "veil-reason", value: "no such name")]
        p.server.respond(stream: refused, status: 502, extra: reason, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.response(stream: refused, status: 502, fields: reason)])
        #expect(p.client.openStreams == 0 && p.server.openStreams == 0)
    }

    @Test func streamsAreIndependentAndOddNumbered() throws {
        var p = H2Pair()
        let ids = try (0..<3).map { i throws(H2ConnectionMachine.OpenRefusal) in try p.client.openConnect(authority: "h\(i):443") }
        #expect(ids == [1, 3, 5])
        p.pump()
        for id in ids { p.server.respond(stream: id, status: 200, actions: &p.serverActions) }
        p.pump()
        _ = p.takeClient()
        p.client.reset(stream: 3, actions: &p.clientActions)
        p.client.sendData(stream: 5, [7][...], endStream: false, actions: &p.clientActions)
        p.pump()
        let s = p.takeServer()
        #expect(s.contains(.reset(stream: 3, code: .cancel, retryable: false, reason: "stream reset by the peer: CANCEL")))
        #expect(s.contains(.data(stream: 5, bytes: [7][...])))
        #expect(p.server.openStreams == 2)
    }

    @Test func peerResetIsReported() throws {
        var p = H2Pair()
        let id = try p.client.openConnect(authority: "a:1")
        p.pump()
        p.server.reset(stream: id, code: .connectError, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.reset(stream: id, code: .connectError, retryable: false, reason: "stream reset by the peer: CONNECT_ERROR")])
        #expect(p.client.openStreams == 0)
    }

    @Test func pingAndAck() {
        var p = H2Pair()
        p.client.ping()
        p.client.ping()
        p.pump()
        #expect(p.takeClient() == [.pingAck(opaque: 1), .pingAck(opaque: 2)])
    }

    /// RFC 9113 section 6.5.3: our SETTINGS await the peer's ACK (the owner times it out).
    @Test func settingsAwaitTheirAck() {
        var c = H2ConnectionMachine(.init(role: .client))
        #expect(!c.awaitingSettingsAck)
        c.start()
        #expect(c.awaitingSettingsAck)
        var actions: [A] = []
        // The peer's own SETTINGS and a PING do not acknowledge ours.
        c.receive(rawFrame(4, 0, 0, []) + rawFrame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]), actions: &actions)
        #expect(c.awaitingSettingsAck)
        c.receive(rawFrame(4, 1, 0, []), actions: &actions)
        #expect(!c.awaitingSettingsAck)
        #expect(c.failure == nil)
        // Both ends of a pair, once the bytes have moved.
        let p = H2Pair()
        #expect(!p.client.awaitingSettingsAck && !p.server.awaitingSettingsAck)
    }

    @Test func maxConcurrentStreamsRespected() throws {
        var p = H2Pair(server: .init(role: .server, maxConcurrentStreams: 2))
        _ = try p.client.openConnect(authority: "a:1")
        _ = try p.client.openConnect(authority: "b:1")
        #expect(throws: H2ConnectionMachine.OpenRefusal.tooManyStreams) { try p.client.openConnect(authority: "c:1") }
    }
}
