import Testing
@testable import VeilProxy
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The transfer machines, as the harness drives them.
protocol TransferMachineUnderTest {
    mutating func handle(_ event: TransferEvent, _ actions: inout [TransferAction])
}

extension PassThroughMachine: TransferMachineUnderTest {}
extension SpliceMachine: TransferMachineUnderTest {}
extension ForwardMachine: TransferMachineUnderTest {}

/// Plays the owner of a transfer machine with no sockets and no io_uring: it feeds events,
/// records every action as a line of text (`TransferHarness.describe`), answers the actions that
/// complete at once (open pipes, resize a pipe), and keeps the receives and sends in flight so a
/// test can complete them with the bytes a peer "sent" (`peerSends`, `deliver`).
struct TransferHarness<Machine: TransferMachineUnderTest> {
    /// Time zero of a test: deadlines print relative to it.
    static var epoch: UInt64 { 100_000_000_000 }

    var machine: Machine
    var now = TransferHarness.epoch
    /// Every action so far, described.
    var log: [String] = []
    private var actions: [TransferAction] = []

    /// The pipe capacity `openPipes` reports, and whether `resizePipe` is granted.
    var pipeCapacity = 65536
    var growPipes = true

    /// Receives in flight: where to, how much at most.
    var receiving: [TransferSide: (into: UnsafeMutableRawPointer, count: Int)] = [:]
    /// Sends in flight.
    var sending: [TransferSide: [UInt8]] = [:]
    /// Bytes each peer has sent and the machine has not read yet.
    var inbound: [TransferSide: [UInt8]] = [.client: [], .upstream: []]
    /// Bytes that reached each side.
    var delivered: [TransferSide: [UInt8]] = [.client: [], .upstream: []]
    var closed: TransferCloseCause?

    init(_ machine: Machine) {
        self.machine = machine
        actions.reserveCapacity(16)
    }

    /// Feeds one event; returns the actions it produced (and those of synchronous completions).
    @discardableResult
    mutating func feed(_ event: TransferEvent) -> [String] {
        let start = log.count
        actions.removeAll(keepingCapacity: true)
        machine.handle(event, &actions)
        var i = 0
        while i < actions.count {
            let action = actions[i]
            i += 1
            log.append(TransferHarness.describe(action))
            perform(action)
        }
        return Array(log[start...])
    }

    private mutating func perform(_ action: TransferAction) {
        switch action {
        case .receive(let side, let into, let count, _):
            receiving[side] = (into, count)
        case .send(let side, let from, let count, _):
            sending[side] = Array(UnsafeRawBufferPointer(start: from, count: count))
        case .openPipes(let up):
            machine.handle(.pipesOpened(up: up ? pipeCapacity : 0, down: pipeCapacity, now: now), &actions)
        case .resizePipe(let d, let size):
            machine.handle(.pipeResized(d, capacity: growPipes ? size : nil), &actions)
        case .close(let cause):
            closed = cause
        default:
            break
        }
    }

    mutating func start() -> [String] { feed(.start(now: now)) }

    mutating func advance(seconds: Double) { now += UInt64(seconds * 1e9) }

    /// The peer at `side` sends `bytes`; a receive in flight gets what it asked for.
    @discardableResult
    mutating func peerSends(_ side: TransferSide, _ bytes: [UInt8]) -> [String] {
        inbound[side, default: []] += bytes
        return pump(side)
    }

    /// Completes the receive in flight from `side` with what the peer sent (if anything).
    @discardableResult
    mutating func pump(_ side: TransferSide) -> [String] {
        var out: [String] = []
        while closed == nil, let r = receiving[side], let waiting = inbound[side], !waiting.isEmpty {
            let n = min(r.count, waiting.count)
            waiting.withUnsafeBytes { r.into.copyMemory(from: $0.baseAddress!, byteCount: n) }
            inbound[side] = Array(waiting.dropFirst(n))
            receiving[side] = nil
            out += feed(.received(side, result: Int32(n), now: now))
        }
        return out
    }

    /// Completes the receive in flight from `side` with `result` (0: EOF, -errno).
    @discardableResult
    mutating func receiveEnds(_ side: TransferSide, _ result: Int32 = 0) -> [String] {
        receiving[side] = nil
        return feed(.received(side, result: result, now: now))
    }

    /// Completes the send in flight to `side`: all of it, or `count` bytes, or fails with -errno.
    @discardableResult
    mutating func deliver(_ side: TransferSide, count: Int? = nil) -> [String] {
        guard let bytes = sending[side] else { return [] }
        let n = min(count ?? bytes.count, bytes.count)
        delivered[side, default: []] += bytes.prefix(n)
        sending[side] = nil
        return feed(.sent(side, result: Int32(n), now: now))
    }

    @discardableResult
    mutating func failSend(_ side: TransferSide, _ result: Int32) -> [String] {
        sending[side] = nil
        return feed(.sent(side, result: result, now: now))
    }

    /// Receives and delivers until nothing moves.
    mutating func settle() {
        var moved = true
        while moved && closed == nil {
            moved = false
            for side in [TransferSide.client, .upstream] {
                if !pump(side).isEmpty { moved = true }
                if !deliver(side).isEmpty { moved = true }
            }
        }
    }

    /// The whole log, for a failure message.
    var transcript: String { log.joined(separator: "\n") }

    static func describe(_ action: TransferAction) -> String {
        switch action {
        case .receive(let side, _, let count, let poll): return "receive \(side.name) \(count)\(poll ? " after poll" : "")"
        case .send(let side, _, let count, let poll): return "send \(side.name) \(count)\(poll ? " after poll" : "")"
        case .cancelReceive(let side): return "cancel receive \(side.name)"
        case .refuseHandshake(let alert): return "refuse handshake alert \(TLSAlert.name(for: alert))"
        case .shutdownWrite(let d): return "shutdown \(d.name)"
        case .releaseRecordBuffers: return "release record buffers"
        case .setNonBlocking: return "non-blocking"
        case .openPipes(let up): return up ? "open pipes" : "open pipe down"
        case .resizePipe(let d, let size): return "resize pipe \(d.name) \(size)"
        case .spliceIn(let d, let count): return "in \(d.name) \(count)"
        case .spliceOut(let d, let count, let poll): return "out \(d.name) \(count)\(poll ? " after poll" : "")"
        case .receiveRecord(let d): return "receive record \(d.name)"
        case .sendAlertRecord(let d, let level, let description): return "send alert \(d.name) \(level) \(TLSAlert.name(for: description))"
        case .forwardRecord(let d, let type, let count): return "forward record \(d.name) type \(type) \(count)"
        case .setDeadline(let at): return at == 0 ? "deadline none" : "deadline \(Double(Int64(at) - Int64(epoch)) / 1e9)"
        case .moved(let d, let bytes): return "moved \(d.name) \(bytes)"
        case .note(let note):
            switch note {
            case .end(let side, let end): return "end \(side.name) \(end.token)"
            case .handshake(let version, let cipher, let alpn): return "tls \(version) \(cipher ?? "-") \(alpn ?? "-")"
            case .sni(let sni): return "sni \(sni ?? "-")"
            case .path(let path): return "path \(path.rawValue)"
            case .mode(let mode): return "mode \(mode.rawValue)"
            }
        case .logRecord(let dir, let s): return "log \(dir.rawValue) \(s.contentType.name) \(s.length)\(s.messages.isEmpty ? "" : " " + s.messages.joined(separator: "; "))"
        case .diagnostic(let text): return "diagnostic \(text)"
        case .close(let cause): return "close \(cause.reason.kind.rawValue): \(cause.reason.reason)"
        }
    }
}

extension TransferDirection {
    var name: String { self == .up ? "up" : "down" }
}

