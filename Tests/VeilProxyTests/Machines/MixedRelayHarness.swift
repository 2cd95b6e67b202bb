import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The mixed relay alone: the handshakes run first in memory (InterceptHarness, the other leg's
/// kTLS install refused), then the machine takes the legs. The kTLS socket's side is plaintext
/// here, as the kernel gives and takes it: records handed in with their type, plaintext sent out
/// collected; the userspace leg's peer is a real OpenSSL engine.
final class MixedRelayHarness {
    typealias M = MixedRelayMachine
    static let second: UInt64 = 1_000_000_000

    let handshakes: InterceptHarness
    let kernel: TransferSide
    let relay: MixedRelay
    var machine: M
    let plaintext: UnsafeMutableRawPointer
    var receiving = false
    var sending = false
    var shut: Bool?
    /// The kTLS socket: a recvmsg in flight, a send in flight (its bytes), what went out, its
    /// close_notify record, its shutdown.
    var kernelReceiving = false
    var kernelSending: Int?
    var kernelOut: [UInt8] = []
    var kernelCloseNotify = false
    var kernelShut = false
    var deadline: UInt64 = 0
    var closed: CloseReason?
    var notes: [InterceptNote] = []
    var logged: [String] = []
    var now: UInt64

    var userspace: TransferSide { kernel.other }
    /// The userspace leg's peer.
    var peer: TLSEngine { handshakes.peer(userspace) }

    init(kernel: TransferSide, idleTimeout: Double = 300, logRecords: Bool = false) throws {
        self.kernel = kernel
        // The upstream leg without kTLS: a relay tunnel's socketpair (its install is not tried);
        // the client leg's: refused.
        handshakes = try InterceptHarness(try InterceptHarness.settings(kernelTLS: true, upstreamIsTCP: kernel != .client,
                                                                          logRecords: logRecords))
        if kernel == .upstream { handshakes.installErrors[.client] = "refused by VEIL_FAULT_KTLS_REFUSE" }
        handshakes.start()
        try handshakes.run()
        #expect(handshakes.handover == "mixed \(kernel.name)")
        now = handshakes.now
        plaintext = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 16)
        receiving = handshakes.receiving[kernel.other] != nil
        sending = handshakes.sending.contains(kernel.other)
        guard let r = MixedRelay(kernel: kernel, userspace: handshakes.leg(kernel.other), plaintext: plaintext,
                                 logRecords: logRecords, now: now) else {
            throw HarnessFailure()
        }
        relay = r
        machine = M(settings: M.Settings(idleTimeout: idleTimeout, logRecords: logRecords), relay: r, now: now)
        on(.start(now: now))
    }

    struct HarnessFailure: Error {}

    deinit { plaintext.deallocate() }

    var leg: TLSLeg { handshakes.leg(userspace) }

    @discardableResult
    func on(_ event: M.Event) -> [String] {
        var actions: [M.Action] = []
        machine.handle(event, &actions)
        var described: [String] = []
        for action in actions {
            switch action {
            case .receive(let buffer):
                #expect(!receiving, "a second receive")
                #expect(buffer === leg.engine.inbound)
                receiving = true
                buffer.pinned = true
                described.append("receive")
            case .send(let buffer):
                #expect(!sending, "a second send")
                #expect(buffer === leg.engine.outbound && buffer.readable > 0)
                #expect(shut == nil, "a send after the shutdown")
                sending = true
                buffer.pinned = true
                described.append("send")
            case .shutdownWrite(let authenticated):
                #expect(shut == nil, "shut twice")
                shut = authenticated
                described.append("shutdown \(authenticated ? "after close_notify" : "bare")")
            case .receiveRecord(let message):
                #expect(!kernelReceiving, "a second recvmsg")
                #expect(message === relay.incoming)
                kernelReceiving = true
                described.append("recvmsg")
            case .sendPlaintext(let bytes, let count):
                #expect(kernelSending == nil, "a second kTLS send")
                #expect(!kernelShut && !kernelCloseNotify)
                kernelOut += UnsafeRawBufferPointer(start: bytes, count: count)
                kernelSending = count
                described.append("ktls send")
            case .sendCloseNotify(let message):
                #expect(kernelSending == nil, "a second kTLS send")
                #expect(message === relay.control)
                kernelCloseNotify = true
                kernelSending = 2
                described.append("ktls close_notify")
            case .shutdownKernelWrite:
                #expect(!kernelShut, "kTLS socket shut twice")
                #expect(kernelSending == nil)
                kernelShut = true
                described.append("ktls shutdown")
            case .setDeadline(let at):
                deadline = at
                described.append("deadline")
            case .logRecord(let direction, let summary):
                logged.append("\(direction.rawValue) \(summary.contentType)")
                described.append("log")
            case .note(let note):
                notes.append(note)
                described.append("note")
            case .close(let reason):
                #expect(closed == nil, "closed twice")
                closed = reason
                described.append("close \(reason.kind.rawValue)")
            }
        }
        return described
    }

    /// The userspace leg's send completes: its bytes reach the peer.
    @discardableResult
    func completeSend() -> [String] {
        guard sending else { return [] }
        sending = false
        let out = leg.engine.outbound
        let n = out.readable
        _ = peer.inbound.append(out.readPointer, count: n)
        return on(.sent(result: Int32(n), now: now))
    }

    /// The userspace leg's receive completes with what the peer wrote (at most `limit`).
    @discardableResult
    func completeReceive(limit: Int = .max) -> Bool {
        guard receiving, peer.outbound.readable > 0 else { return false }
        receiving = false
        let from = peer.outbound
        let input = leg.engine.inbound
        input.pinned = false
        let target = input.writePointer
        let n = min(from.readable, input.contiguousWritable, limit)
        target.copyMemory(from: from.readPointer, byteCount: n)
        from.consume(n)
        input.pinned = true
        on(.received(result: Int32(n), now: now))
        return true
    }

    @discardableResult
    func fail(receive result: Int32) -> [String] {
        #expect(receiving, "no receive in flight")
        receiving = false
        return on(.received(result: result, now: now))
    }

    /// The kTLS send in flight completes (all of it, or `result`).
    @discardableResult
    func completeKernelSend(_ result: Int32? = nil) -> [String] {
        guard let n = kernelSending else { return [] }
        kernelSending = nil
        return on(.kernelSent(result: result ?? Int32(n), now: now))
    }

    /// A record arrives on the kTLS socket (the kernel decrypted it): `type` and its plaintext.
    @discardableResult
    func kernelRecord(_ type: UInt8, _ body: [UInt8]) -> [String] {
        #expect(kernelReceiving, "no recvmsg in flight")
        kernelReceiving = false
        body.withUnsafeBytes { relay.incoming.data.update(from: $0.bindMemory(to: UInt8.self).baseAddress!, count: body.count) }
        return on(.recordReceived(result: Int32(body.count), type: type, now: now))
    }

    /// The recvmsg in flight completes with `result` (0: EOF; negative: an errno).
    @discardableResult
    func kernelReceive(result: Int32) -> [String] {
        #expect(kernelReceiving, "no recvmsg in flight")
        kernelReceiving = false
        return on(.recordReceived(result: result, type: 0, now: now))
    }

    /// Runs the operations until nothing moves (or it ends).
    func run(rounds: Int = 200) {
        for _ in 0..<rounds {
            if closed != nil { return }
            var moved = false
            if sending { completeSend(); moved = true }
            if completeReceive() { moved = true }
            if kernelSending != nil { completeKernelSend(); moved = true }
            if !moved { return }
        }
    }

    /// The userspace peer writes `bytes`.
    func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { peer.write($0.baseAddress!, count: $0.count) }
            if n == 0 { Issue.record("the peer's output is full"); return }
            offset += n
        }
    }

    /// What the userspace peer can read now.
    func read() -> (bytes: [UInt8], closeNotify: Bool, failed: String?) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let r = buffer.withUnsafeMutableBytes { peer.read(into: $0.baseAddress!, max: $0.count) }
            switch r {
            case .data(let n): out += buffer.prefix(n)
            case .needsInput: return (out, false, nil)
            case .closed: return (out, true, nil)
            case .failed(let why): return (out, false, why)
            }
        }
    }

    var stateName: String {
        switch machine.state {
        case .relaying: "relaying"
        case .alerting: "alerting"
        case .closed: "closed"
        }
    }

    var closeLine: String? { closed.map { "\($0.kind.rawValue): \($0.reason)" } }

    var ends: [String] {
        notes.compactMap { if case .end(let side, let end) = $0 { return "\(side.name) \(end.token)" } else { return nil } }
    }

    var sent: [TransferSide: Int] {
        notes.reduce(into: [TransferSide: Int]()) { t, n in if case .sent(let s, let c) = n { t[s, default: 0] += c } }
    }
}
