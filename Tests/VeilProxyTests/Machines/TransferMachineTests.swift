import Testing
@testable import VeilProxy

/// The owner's one entry for every transfer pipeline: each machine gets the events unchanged.
@Suite("TransferMachine: one entry for pass-through, kTLS splice and plain-http forward")
struct TransferMachineTests {
    static func start(_ machine: TransferMachine) -> [String] {
        var m = machine
        var actions: [TransferAction] = []
        m.handle(.start(now: TransferHarness<SpliceMachine>.epoch), &actions)
        return actions.map(TransferHarness<SpliceMachine>.describe)
    }

    @Test func passThroughStartsItsHandshakeRelay() {
        let buffers = RecordBuffers()
        let range = buffers.request()
        let m = PassThroughMachine(PassThroughMachineTests.settings(), clientBuffer: buffers.client, pipelined: range,
                                   upstreamBuffer: buffers.upstream, capacity: RecordBuffers.capacity)
        #expect(Self.start(.passThrough(m)) == ["deadline 15.0", "receive client 5", "receive upstream 5"])
    }

    @Test func kernelTLSStartsItsSplice() {
        #expect(Self.start(.kernelTLS(SpliceMachine(.kernelTLS, idleTimeout: 300, pipeSizeLimit: 1 << 20)))
                == ["non-blocking", "open pipes"])
    }

    @Test func forwardStartsItsResponseRelay() throws {
        let buffers = RecordBuffers()
        let (h, _) = try ForwardMachineTests.harness(buffers, "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n")
        #expect(Self.start(.forward(h.machine)).prefix(2) == ["mode http", "path splice"])
    }
}
