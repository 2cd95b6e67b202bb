import Testing
@testable import VeilHTTP2

@Suite("H2ConnectionMachine: flow control")
struct H2FlowControlTests {
    /// A pair with one tunnel open on stream 1 (and 3 when asked).
    static func open(_ p: inout H2Pair, streams: Int = 1) throws {
        for i in 0..<streams { _ = try p.client.openConnect(authority: "t\(i):443") }
        p.pump()
        for i in 0..<streams { p.server.respond(stream: UInt32(2 * i + 1), status: 200, actions: &p.serverActions) }
        p.pump()
        _ = p.takeClient()
        _ = p.takeServer()
    }

    @Test func sendStopsAtThePeersStreamWindowAndResumesOnConsumption() throws {
        // The server grants 65,535 per stream; the client may not send more until it consumes.
        var p = H2Pair(server: .init(role: .server, streamWindow: 65_535))
        try Self.open(&p)
        let big = [UInt8](repeating: 0xab, count: 100_000)
        let taken = p.client.sendData(stream: 1, big[...], endStream: false, actions: &p.clientActions)
        #expect(taken == 65_535)
        #expect(p.client.sendCapacity(stream: 1) == 0)
        p.pump()
        #expect(H2Pair.bytes(p.takeServer(), stream: 1).count == 65_535)
        // Nothing granted back yet: the consumer has not taken the bytes.
        #expect(p.takeClient().isEmpty)
        p.server.consumed(stream: 1, 40_000)
        p.pump()
        #expect(p.takeClient() == [.writable(stream: 1)])
        #expect(p.client.sendCapacity(stream: 1) == 40_000)
        #expect(p.client.sendData(stream: 1, big[65_535...], endStream: true, actions: &p.clientActions) == 34_465)
    }

    @Test func aSlowStreamDoesNotStallTheOthers() throws {
        var p = H2Pair(server: .init(role: .server, streamWindow: 65_535, connectionWindow: 65_535))
        try Self.open(&p, streams: 2)
        let chunk = [UInt8](repeating: 1, count: 65_535)
        // Stream 1 fills its window; its consumer takes nothing.
        #expect(p.client.sendData(stream: 1, chunk[...], endStream: false, actions: &p.clientActions) == 65_535)
        p.pump()
        _ = p.takeServer()
        // Stream 3 still moves: the connection window came back as the data arrived.
        for _ in 0..<4 {
            let n = p.client.sendData(stream: 3, chunk[...], endStream: false, actions: &p.clientActions)
            #expect(n == 65_535)
            p.pump()
            #expect(H2Pair.bytes(p.takeServer(), stream: 3).count == 65_535)
            p.server.consumed(stream: 3, 65_535)
            p.pump()
            _ = p.takeClient()
        }
        #expect(p.client.sendCapacity(stream: 1) == 0)
    }

    @Test func connectionWindowBlocksAllUntilUpdated() throws {
        var c = H2ConnectionMachine(.init(role: .client))
        c.start()
        var actions: [A] = []
        c.receive(rawFrame(4, 0, 0, []), actions: &actions)
        let id = try c.openConnect(authority: "a:1")
        c.receive(rawFrame(1, H2Flag.endHeaders, id, headerBlock([(":status", "200")])), actions: &actions)
        #expect(actions == [.response(stream: 1, status: 200, fields: [])])
        actions.removeAll()
        let big = [UInt8](repeating: 0, count: 70_000)
        #expect(c.sendData(stream: id, big[...], endStream: false, actions: &actions) == 65_535)
        // A stream update alone does not open it (the connection window is empty).
        c.receive(rawFrame(8, 0, id, [0, 1, 0, 0]), actions: &actions)
        #expect(actions.isEmpty)
        c.receive(rawFrame(8, 0, 0, [0, 0, 0x10, 0]), actions: &actions)
        #expect(actions == [.writable(stream: 1)])
        #expect(c.sendCapacity(stream: id) == 4096)
    }

    @Test func dataBeyondOurWindowIsAFlowControlError() throws {
        var c = H2ConnectionMachine(.init(role: .client, streamWindow: 65_535))
        c.start()
        var actions: [A] = []
        // The server allows big frames so one frame can overrun.
        c.receive(rawFrame(4, 0, 0, []), actions: &actions)
        let id = try c.openConnect(authority: "a:1")
        c.receive(rawFrame(1, H2Flag.endHeaders, id, headerBlock([(":status", "200")])), actions: &actions)
        actions.removeAll()
        let chunk = [UInt8](repeating: 0, count: 16_384)
        // 3 x 16,384 fit in 65,535; the fourth is one byte over.
        for _ in 0..<3 { c.receive(rawFrame(0, 0, id, chunk), actions: &actions) }
        #expect(actions.count == 3)
        c.didSend(c.outbound.count)
        c.receive(rawFrame(0, 0, id, chunk), actions: &actions)
        guard case .failed(let e)? = actions.last else { Issue.record("\(actions)"); return }
        #expect(e.code == .flowControlError)
        #expect(frames(c.outbound).contains { if case .goaway(0, .flowControlError, _) = $0 { true } else { false } })
    }

    @Test func paddingCountsAgainstTheWindowAndIsGrantedBack() throws {
        var p = H2Pair(server: .init(role: .server, streamWindow: 65_535))
        try Self.open(&p)
        // A padded DATA frame from the server: 1 + 3 + 200 = 204 flow-controlled bytes, 3 delivered.
        var payload: [UInt8] = [200, 1, 2, 3]
        payload += [UInt8](repeating: 0, count: 200)
        p.client.receive(rawFrame(0, H2Flag.padded, 1, payload), actions: &p.clientActions)
        #expect(p.takeClient() == [.data(stream: 1, bytes: [1, 2, 3][...])])
    }

    @Test func windowUpdateOverflowIsAnError() throws {
        var p = H2Pair()
        try Self.open(&p)
        p.client.receive(rawFrame(8, 0, 0, [0x7f, 0xff, 0xff, 0xff]), actions: &p.clientActions)
        guard case .failed(let e)? = p.takeClient().last else { Issue.record(); return }
        #expect(e.code == .flowControlError)
    }

    @Test func initialWindowChangeAppliesToOpenStreams() throws {
        var p = H2Pair(server: .init(role: .server, streamWindow: 65_535))
        try Self.open(&p)
        let big = [UInt8](repeating: 0, count: 70_000)
        #expect(p.client.sendData(stream: 1, big[...], endStream: false, actions: &p.clientActions) == 65_535)
        // SETTINGS_INITIAL_WINDOW_SIZE 70,000 opens stream 1 by 4,465.
        p.client.receive(rawFrame(4, 0, 0, [0, 4, 0, 1, 0x11, 0x70]), actions: &p.clientActions)
        p.client.receive(rawFrame(8, 0, 0, [0, 1, 0, 0]), actions: &p.clientActions)
        #expect(p.takeClient() == [.writable(stream: 1)])
        #expect(p.client.sendCapacity(stream: 1) == 4_465)
    }
}
