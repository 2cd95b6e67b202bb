import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// An intercepted connection's userspace relay alone: the handshakes are run first in memory
/// (InterceptHarness: a real OpenSSL browser and origin), then the relay machine takes the legs
/// and this harness moves bytes between its engine buffers and the peers' as it asks.
final class InterceptRelayHarness {
    typealias M = InterceptRelayMachine
    static let second: UInt64 = 1_000_000_000

    let handshakes: InterceptHarness
    var machine: M
    let plaintext: UnsafeMutableRawPointer
    var receiving: Set<TransferSide> = []
    var sending: Set<TransferSide> = []
    /// shutdownWrite per side: whether the end passed on was authenticated.
    var shut: [TransferSide: Bool] = [:]
    var deadline: UInt64 = 0
    var closed: CloseReason?
    var notes: [InterceptNote] = []
    var logged: [String] = []
    var now: UInt64

    var browser: TLSEngine { handshakes.browser }
    var origin: TLSEngine { handshakes.origin }

    /// `releaseAfter`: the machine's quiet time before `.release` (0, the default here: never,
    /// so that the other tests see the idle deadline alone).
    init(recordLayer: RecordLayerMode = .openssl, idleTimeout: Double = 300, logRecords: Bool = false,
         releaseAfter: UInt64 = 0) throws {
        handshakes = try InterceptHarness(try InterceptHarness.settings(logRecords: logRecords))
        handshakes.start()
        try handshakes.run()
        #expect(handshakes.handover == "relay")
        now = handshakes.now
        plaintext = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 16)
        // What the handshakes left in flight.
        receiving = Set(handshakes.receiving.keys)
        sending = handshakes.sending
        let settings = M.Settings(idleTimeout: idleTimeout, recordLayer: recordLayer, logRecords: logRecords,
                                  upstreamHandshakeNanos: 1_000_000, releaseAfterNanos: releaseAfter)
        machine = M(settings: settings, client: handshakes.client, upstream: handshakes.upstream, plaintext: plaintext, now: now)
        on(.start(now: now))
    }

    deinit { plaintext.deallocate() }

    func leg(_ side: TransferSide) -> TLSLeg { handshakes.leg(side) }
    func peer(_ side: TransferSide) -> TLSEngine { handshakes.peer(side) }

    /// Feeds one event; returns the actions, described, and keeps what they ask for.
    @discardableResult
    func on(_ event: M.Event) -> [String] {
        var actions: [M.Action] = []
        machine.handle(event, &actions)
        var described: [String] = []
        for action in actions {
            switch action {
            case .receive(let side, let buffer):
                #expect(!receiving.contains(side), "a second receive on \(side.name)")
                #expect(buffer === leg(side).engine.inbound)
                #expect(buffer.contiguousWritable > 0)
                receiving.insert(side)
                buffer.pinned = true
                described.append("receive \(side.name)")
            case .send(let side, let buffer):
                #expect(!sending.contains(side), "a second send on \(side.name)")
                #expect(buffer === leg(side).engine.outbound)
                #expect(buffer.readable > 0)
                #expect(shut[side] == nil, "a send after the shutdown on \(side.name)")
                sending.insert(side)
                buffer.pinned = true
                described.append("send \(side.name)")
            case .shutdownWrite(let side, let authenticated):
                #expect(shut[side] == nil, "shut twice")
                #expect(!sending.contains(side), "shut with a send in flight")
                shut[side] = authenticated
                described.append("shutdown \(side.name) \(authenticated ? "after close_notify" : "bare")")
            case .release(let side):
                // What the owner does: the engine gives back what it holds while idle.
                leg(side).engine.releaseIdleMemory()
                described.append("release \(side.name)")
            case .releaseScratch(let buffer):
                #expect(buffer == plaintext)
                ScratchPages.release(buffer, count: 16 << 10)
                described.append("release scratch")
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

    /// The machine's send on `side` completes: its bytes reach that peer.
    @discardableResult
    func completeSend(_ side: TransferSide) -> [String] {
        guard sending.remove(side) != nil else { return [] }
        let out = leg(side).engine.outbound
        let n = out.readable
        _ = peer(side).inbound.append(out.readPointer, count: n)
        return on(.sent(side, result: Int32(n), now: now))
    }

    /// The machine's receive on `side` completes with what the peer has written, at most `limit`
    /// bytes (false: nothing there).
    @discardableResult
    func completeReceive(_ side: TransferSide, limit: Int = .max) -> Bool {
        guard receiving.contains(side) else { return false }
        let from = peer(side).outbound
        guard from.readable > 0 else { return false }
        receiving.remove(side)
        let input = leg(side).engine.inbound
        input.pinned = false
        let target = input.writePointer
        let n = min(from.readable, input.contiguousWritable, limit)
        target.copyMemory(from: from.readPointer, byteCount: n)
        from.consume(n)
        input.pinned = true
        on(.received(side, result: Int32(n), now: now))
        return true
    }

    /// A receive on `side` completes with `result` (0: EOF, negative: an errno).
    @discardableResult
    func fail(_ side: TransferSide, receive result: Int32) -> [String] {
        #expect(receiving.remove(side) != nil, "no receive in flight on \(side.name)")
        return on(.received(side, result: result, now: now))
    }

    /// Runs the peers and the machine's operations until nothing moves (or it ends).
    func run(rounds: Int = 200) {
        for _ in 0..<rounds {
            if closed != nil { return }
            var moved = false
            if !browser.isHandshakeComplete { _ = browser.handshake() }
            for side in [TransferSide.client, .upstream] {
                if sending.contains(side) { completeSend(side); moved = true }
                if completeReceive(side) { moved = true }
            }
            if !moved { return }
        }
    }

    /// Writes `bytes` on the peer of `side` (its TLS session, into its output).
    func write(_ side: TransferSide, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { peer(side).write($0.baseAddress!, count: $0.count) }
            #expect(n > 0)
            if n == 0 { return }
            offset += n
        }
    }

    /// What the peer of `side` can read now: its plaintext, and whether it saw close_notify.
    func read(_ side: TransferSide) -> (bytes: [UInt8], closeNotify: Bool, failed: String?) {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let r = buffer.withUnsafeMutableBytes { peer(side).read(into: $0.baseAddress!, max: $0.count) }
            switch r {
            case .data(let n): out += buffer.prefix(n)
            case .needsInput: return (out, false, nil)
            case .closed: return (out, true, nil)
            case .failed(let why): return (out, false, why)
            }
        }
    }

    /// Moves `count` bytes from the peer of `side` to the other peer, and checks they arrive.
    func relay(_ count: Int, from side: TransferSide) {
        let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ (side == .client ? 1 : 2)) }
        var got: [UInt8] = []
        var offset = 0
        while offset < count || got.count < count {
            if offset < count {
                let chunk = Array(bytes[offset..<min(offset + (32 << 10), count)])
                write(side, chunk)
                offset += chunk.count
            }
            run()
            got += read(side.other).bytes
            if closed != nil { break }
            if offset >= count && got.count < count && sending.isEmpty && peer(side).outbound.readable == 0 { break }
        }
        #expect(got == bytes)
    }

    /// The peer of `side` seals a record of its own with its record-layer keys (it leaves OpenSSL).
    func sealAsPeer(_ side: TransferSide, type: UInt8, _ body: [UInt8]) throws {
        guard case .ciphers(let tx, _) = peer(side).recordCiphers() else {
            Issue.record("the peer cannot take over its records")
            return
        }
        peer(side).handOverRecords()
        #expect(tx.seal(type: type, body, into: peer(side).outbound) != nil)
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

    var records: [String] {
        notes.compactMap { if case .records(let r) = $0 { return r } else { return nil } }
    }

    var sent: [TransferSide: Int] {
        notes.reduce(into: [TransferSide: Int]()) { t, n in if case .sent(let s, let c) = n { t[s, default: 0] += c } }
    }
}
