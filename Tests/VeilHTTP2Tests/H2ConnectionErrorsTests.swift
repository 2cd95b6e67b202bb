import Testing
@testable import VeilHTTP2

/// A client that has exchanged SETTINGS and opened stream 1.
private func client() throws -> H2ConnectionMachine {
    var c = H2ConnectionMachine(.init(role: .client))
    c.start()
    var actions: [A] = []
    c.receive(rawFrame(4, 0, 0, []), actions: &actions)
    _ = try c.openConnect(authority: "a:1")
    c.didSend(c.outbound.count)
    return c
}

private func failure(after bytes: [UInt8], _ c: inout H2ConnectionMachine) -> H2ConnectionError? {
    var actions: [A] = []
    c.receive(bytes, actions: &actions)
    guard case .failed(let e)? = actions.last else { return nil }
    // Every stream was told, and a GOAWAY with the code is queued.
    #expect(actions.contains { if case .reset(1, e.code, false, _) = $0 { true } else { false } })
    #expect(frames(c.outbound).contains { if case .goaway(_, e.code, _) = $0 { true } else { false } })
    return e
}

@Suite("H2ConnectionMachine: errors and GOAWAY")
struct H2ConnectionErrorsTests {
    @Test func firstFrameMustBeSettings() {
        var c = H2ConnectionMachine(.init(role: .client))
        c.start()
        var actions: [A] = []
        c.receive(rawFrame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]), actions: &actions)
        #expect(actions == [.failed(H2ConnectionError(.protocolError, "the peer's first frame is not SETTINGS"))])
    }

    @Test func serverNeedsThePreface() {
        var s = H2ConnectionMachine(.init(role: .server))
        s.start()
        var actions: [A] = []
        s.receive(Array("PRI * HTTP/2.0\r\n".utf8), actions: &actions)
        #expect(actions.isEmpty)
        s.receive(Array("\r\nXX".utf8), actions: &actions)
        #expect(actions == [.failed(H2ConnectionError(.protocolError, "no HTTP/2 client preface"))])
    }

    @Test func malformedFramesEndTheConnection() throws {
        var c = try client()
        #expect(failure(after: rawFrame(6, 0, 0, [1, 2, 3]), &c)?.code == .frameSizeError)
        c = try client()
        #expect(failure(after: rawFrame(0, 0, 1, [1]), &c)?.code == .protocolError)  // DATA before headers
        c = try client()
        #expect(failure(after: rawFrame(0, 0, 7, [1]), &c)?.code == .protocolError)  // idle stream
        c = try client()
        #expect(failure(after: rawFrame(1, 4, 2, headerBlock([(":status", "200")])), &c)?.code == .protocolError)  // even id
        c = try client()
        #expect(failure(after: rawFrame(1, 4, 1, [0xff, 0xff]), &c)?.code == .compressionError)
        c = try client()
        #expect(failure(after: rawFrame(1, 4, 1, headerBlock([("x", "y")])), &c)?.code == .protocolError)  // no :status
        c = try client()
        #expect(failure(after: rawFrame(4, 0, 0, [0, 2, 0, 0, 0, 1]), &c)?.code == .protocolError)  // push from a server
        c = try client()
        #expect(failure(after: rawFrame(5, 4, 1, [0, 0, 0, 2]), &c)?.code == .protocolError)  // PUSH_PROMISE
    }

    @Test func continuationSequencing() throws {
        var c = try client()
        let block = headerBlock([(":status", "200"), ("server", "nghttpx")])
        var actions: [A] = []
        c.receive(rawFrame(1, 0, 1, Array(block.prefix(5))) + rawFrame(9, 4, 1, Array(block.dropFirst(5))), actions: &actions)
        #expect(actions == [.response(stream: 1, status: 200, fields: [HPACKHeader(name: "server", value: "nghttpx")])])
        c = try client()
        #expect(failure(after: rawFrame(1, 0, 1, Array(block.prefix(5))) + rawFrame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 0]), &c)?.code == .protocolError)
        c = try client()
        #expect(failure(after: rawFrame(9, 4, 1, block), &c)?.code == .protocolError)
    }

    @Test func informationalThenFinal() throws {
        var c = try client()
        var actions: [A] = []
        c.receive(rawFrame(1, 4, 1, headerBlock([(":status", "100")])) + rawFrame(1, 4, 1, headerBlock([(":status", "200")])),
                  actions: &actions)
        #expect(actions == [.response(stream: 1, status: 200, fields: [])])
    }

    @Test func goawayFailsStreamsAboveLastAndDrainsTheRest() throws {
        var p = H2Pair()
        for a in ["a:1", "b:1", "c:1"] { _ = try p.client.openConnect(authority: a) }
        p.pump()
        for id: UInt32 in [1, 3, 5] { p.server.respond(stream: id, status: 200, actions: &p.serverActions) }
        p.pump()
        _ = p.takeClient()
        _ = p.takeServer()
        // A relay that takes only stream 1 and 3.
        p.client.receive(rawFrame(7, 0, 0, [0, 0, 0, 3, 0, 0, 0, 0] + Array("restart".utf8)), actions: &p.clientActions)
        #expect(p.takeClient() == [
            .goaway(lastStream: 3, code: .noError, debug: "restart"),
            .reset(stream: 5, code: .refusedStream, retryable: true, reason: "relay going away (GOAWAY NO_ERROR) before stream 5"),
        ])
        #expect(throws: H2ConnectionMachine.OpenRefusal.goingAway) { try p.client.openConnect(authority: "d:1") }
        // Streams 1 and 3 still carry data, then end: drained.
        p.server.sendData(stream: 1, [1][...], endStream: true, actions: &p.serverActions)
        p.server.sendData(stream: 3, [3][...], endStream: true, actions: &p.serverActions)
        p.pump()
        p.client.sendData(stream: 1, [][...], endStream: true, actions: &p.clientActions)
        p.client.sendData(stream: 3, [][...], endStream: true, actions: &p.clientActions)
        #expect(p.takeClient() == [
            .data(stream: 1, bytes: [1][...]), .remoteEnd(stream: 1), .data(stream: 3, bytes: [3][...]), .remoteEnd(stream: 3),
            .closed(stream: 1), .closed(stream: 3), .drained,
        ])
    }

    @Test func serverShutdownRefusesNewStreams() throws {
        var p = H2Pair()
        _ = try p.client.openConnect(authority: "a:1")
        p.pump()
        _ = p.takeServer()
        p.server.shutdown(actions: &p.serverActions)
        _ = try? p.client.openConnect(authority: "b:1")  // crosses the GOAWAY on the wire
        p.pump()
        #expect(p.takeClient().first == .goaway(lastStream: 1, code: .noError, debug: ""))
        #expect(p.takeServer().isEmpty)  // stream 3 was refused with RST, not reported
        #expect(p.client.openStreams == 1)
    }

    @Test func lostFailsEveryStream() throws {
        var c = try client()
        var actions: [A] = []
        c.lost("relay down: connection reset", actions: &actions)
        #expect(actions == [
            .reset(stream: 1, code: .internalError, retryable: false, reason: "relay down: connection reset"),
            .failed(H2ConnectionError(.internalError, "relay down: connection reset")),
        ])
        #expect(c.outbound.isEmpty)
        #expect(throws: H2ConnectionMachine.OpenRefusal.goingAway) { try c.openConnect(authority: "b:1") }
    }

    /// Random bytes after a valid start never trap, and end in a frame error or a wait.
    @Test func garbageNeverTraps() throws {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3_000 {
            var c = try client()
            var actions: [A] = []
            let n = Int.random(in: 1..<200, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            bytes[0] = 0
            if n > 1 { bytes[1] = 0 }
            c.receive(bytes, actions: &actions)
        }
    }
}
