import Testing
@testable import VeilHTTP2

/// Transitions of the connection state (`H2ConnectionState`) the stream and error tests do not
/// reach: each is an event list against one machine or a pair, checked action by action and
/// frame by frame.
@Suite("H2ConnectionMachine: connection state")
struct H2ConnectionStateTests {
    static let settingsFrame = rawFrame(4, 0, 0, [])
    static let pingFrame = rawFrame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 9])

    /// The GOAWAY frames in `bytes`.
    static func goaways(_ bytes: [UInt8]) -> [H2Frame] {
        frames(bytes).filter { if case .goaway = $0 { true } else { false } }
    }

    /// A server that sent its start and has not seen a byte of the client yet.
    static func freshServer() -> H2ConnectionMachine {
        var s = H2ConnectionMachine(.init(role: .server))
        s.start()
        s.didSend(s.outbound.count)
        return s
    }

    /// failed: frames that come after the failure, and every call, do nothing.
    @Test func nothingHappensAfterFailure() throws {
        var c = H2ConnectionMachine(.init(role: .client))
        c.start()
        var actions: [A] = []
        c.receive(Self.settingsFrame, actions: &actions)
        _ = try c.openConnect(authority: "a:1")
        c.didSend(c.outbound.count)
        actions.removeAll()
        // DATA on idle stream 7: a connection error, then (in the same read) a PING.
        c.receive(rawFrame(0, 0, 7, [1]) + Self.pingFrame, actions: &actions)
        let error = H2ConnectionError(.protocolError, "DATA on idle stream 7")
        #expect(actions == [.reset(stream: 1, code: .protocolError, retryable: false, reason: "\(error)"), .failed(error)])
        #expect(frames(c.outbound) == [.goaway(lastStream: 0, code: .protocolError, debug: Array(error.reason.utf8)[...])])
        c.didSend(c.outbound.count)
        actions.removeAll()
        // A later read: a PING (no ACK), a GOAWAY (no .goaway), a SETTINGS (no ACK).
        c.receive(Self.pingFrame + rawFrame(7, 0, 0, [0, 0, 0, 1, 0, 0, 0, 0]) + Self.settingsFrame, actions: &actions)
        // Calls: no PING, no second GOAWAY, no second failure, no DATA.
        c.ping()
        c.shutdown(actions: &actions)
        c.lost("late", actions: &actions)
        #expect(c.sendData(stream: 1, [1][...], endStream: false, actions: &actions) == 0)
        #expect(throws: H2ConnectionMachine.OpenRefusal.goingAway) { try c.openConnect(authority: "b:1") }
        #expect(actions.isEmpty)
        #expect(c.outbound.isEmpty)
        #expect(c.failure == error)
        #expect(c.isGoingAway)
    }

    /// goingAway: the peer's GOAWAY, then ours; the peer's lowest last stream is kept through
    /// both, and the connection drains once the streams it covers end.
    @Test func goawayReceivedThenSent() throws {
        var p = H2Pair()
        try H2FlowControlTests.open(&p, streams: 2)
        p.client.receive(rawFrame(7, 0, 0, [0, 0, 0, 3, 0, 0, 0, 0]), actions: &p.clientActions)
        #expect(p.takeClient() == [.goaway(lastStream: 3, code: .noError, debug: "")])
        #expect(p.client.peerGoaway == 3 && !p.client.sentGoaway && p.client.isGoingAway)
        // Ours: once (the second call sends nothing); the server opened no stream.
        p.client.shutdown(reason: "bye", actions: &p.clientActions)
        p.client.shutdown(reason: "again", actions: &p.clientActions)
        #expect(frames(p.client.outbound) == [.goaway(lastStream: 0, code: .noError, debug: Array("bye".utf8)[...])])
        #expect(p.takeClient().isEmpty)  // streams 1 and 3 still open: not drained
        #expect(p.client.peerGoaway == 3 && p.client.sentGoaway)
        // A later GOAWAY with a higher last stream does not raise it; a lower one refuses stream 3.
        p.client.receive(rawFrame(7, 0, 0, [0, 0, 0, 5, 0, 0, 0, 0]), actions: &p.clientActions)
        #expect(p.takeClient() == [.goaway(lastStream: 3, code: .noError, debug: "")])
        p.client.receive(rawFrame(7, 0, 0, [0, 0, 0, 1, 0, 0, 0, 2]), actions: &p.clientActions)
        #expect(p.takeClient() == [
            .goaway(lastStream: 1, code: .internalError, debug: ""),
            .reset(stream: 3, code: .refusedStream, retryable: true, reason: "relay going away (GOAWAY INTERNAL_ERROR) before stream 3"),
        ])
        #expect(p.client.peerGoaway == 1)
        // Stream 1 ends both ways: drained, once.
        p.client.sendData(stream: 1, [][...], endStream: true, actions: &p.clientActions)
        p.server.sendData(stream: 1, [][...], endStream: true, actions: &p.serverActions)
        p.pump()
        #expect(p.takeClient() == [.remoteEnd(stream: 1), .closed(stream: 1), .drained])
        #expect(p.client.failure == nil && p.client.openStreams == 0)
    }

    /// awaitingPreface / awaitingSettings with our GOAWAY sent (a relay that refuses a client,
    /// or stops, before the client's first byte): drained at once, the preface and SETTINGS are
    /// still required, and a stream the client opens anyway is refused.
    @Test func shutdownBeforeThePeersSettings() throws {
        var s = Self.freshServer()
        var actions: [A] = []
        s.shutdown(reason: "busy", actions: &actions)
        #expect(actions == [.drained])
        #expect(frames(s.outbound) == [.goaway(lastStream: 0, code: .noError, debug: Array("busy".utf8)[...])])
        #expect(s.sentGoaway && s.isGoingAway && s.peerGoaway == nil)
        s.didSend(s.outbound.count)
        actions.removeAll()
        s.receive(H2.clientPreface + Self.settingsFrame, actions: &actions)
        #expect(actions.isEmpty)
        #expect(frames(s.outbound) == [.settingsAck])
        s.didSend(s.outbound.count)
        s.receive(rawFrame(1, 5, 1, headerBlock([(":method", "CONNECT"), (":authority", "a:1")])), actions: &actions)
        #expect(actions.isEmpty)
        #expect(frames(s.outbound) == [.rstStream(stream: 1, code: .refusedStream)])
        #expect(s.openStreams == 0 && s.lastPeerStream == 1 && s.failure == nil && s.sentGoaway)

        // Shut down after the preface (awaitingSettings), then a first frame that is not
        // SETTINGS: still a connection error (and no second GOAWAY).
        s = Self.freshServer()
        s.receive(H2.clientPreface, actions: &actions)
        s.shutdown(actions: &actions)
        #expect(actions == [.drained])
        s.didSend(s.outbound.count)
        actions.removeAll()
        s.receive(Self.pingFrame, actions: &actions)
        #expect(actions == [.failed(H2ConnectionError(.protocolError, "the peer's first frame is not SETTINGS"))])
        #expect(s.outbound.isEmpty)

        // Bytes that are not the preface: still refused.
        s = Self.freshServer()
        s.shutdown(actions: &actions)
        s.didSend(s.outbound.count)
        actions.removeAll()
        s.receive(Array("GET / HTTP/1.1\r\n\r\n".utf8), actions: &actions)
        #expect(actions == [.failed(H2ConnectionError(.protocolError, "no HTTP/2 client preface"))])
    }

    /// goingAway (sent) on the server: a stream the client opened as our GOAWAY crossed it is
    /// refused with REFUSED_STREAM, never reported; the client retries it; the open one finishes.
    @Test func serverRefusesStreamsAfterItsGoaway() throws {
        var p = H2Pair()
        try H2FlowControlTests.open(&p)
        p.server.shutdown(actions: &p.serverActions)
        let crossing = try p.client.openConnect(authority: "b:1")
        #expect(crossing == 3)
        let request = p.client.outbound
        p.client.didSend(request.count)
        p.server.receive(request, actions: &p.serverActions)
        #expect(p.takeServer().isEmpty)
        #expect(frames(p.server.outbound) == [
            .goaway(lastStream: 1, code: .noError, debug: [][...]), .rstStream(stream: 3, code: .refusedStream),
        ])
        #expect(p.server.lastPeerStream == 3 && p.server.openStreams == 1)
        p.pump()
        #expect(p.takeClient() == [
            .goaway(lastStream: 1, code: .noError, debug: ""),
            .reset(stream: 3, code: .refusedStream, retryable: true, reason: "relay going away (GOAWAY NO_ERROR) before stream 3"),
        ])
        // Stream 1 still carries data both ways, then ends: both sides drained.
        p.client.sendData(stream: 1, [1][...], endStream: true, actions: &p.clientActions)
        p.server.sendData(stream: 1, [2][...], endStream: true, actions: &p.serverActions)
        p.pump()
        #expect(p.takeServer() == [.data(stream: 1, bytes: [1][...]), .remoteEnd(stream: 1), .closed(stream: 1), .drained])
        #expect(p.takeClient() == [.data(stream: 1, bytes: [2][...]), .remoteEnd(stream: 1), .closed(stream: 1), .drained])
    }

    /// goingAway (sent), then a protocol error: the streams fail, no second GOAWAY, never drained.
    @Test func errorAfterOurGoaway() throws {
        var p = H2Pair()
        try H2FlowControlTests.open(&p)
        p.client.shutdown(actions: &p.clientActions)
        #expect(Self.goaways(p.client.outbound).count == 1)
        p.client.receive(rawFrame(0, 0, 9, [1]), actions: &p.clientActions)  // DATA on idle stream 9
        let error = H2ConnectionError(.protocolError, "DATA on idle stream 9")
        #expect(p.takeClient() == [.reset(stream: 1, code: .protocolError, retryable: false, reason: "\(error)"), .failed(error)])
        #expect(Self.goaways(p.client.outbound).count == 1)
        #expect(p.client.failure == error && p.client.openStreams == 0)
    }
}
