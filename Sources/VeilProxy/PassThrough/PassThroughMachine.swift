import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// A pass-through connection after its `200`: the TLS handshake relayed record by record (both
/// directions through the flow tracker and the record log, the client's ClientHello held until
/// whole and judged: its SNI must name the CONNECT host; `--split-hello` cuts it in two), then
/// the switch to the splice relay (`SpliceMachine`), or with `--record-log records` the same
/// record relay for the rest of the connection, every record logged.
///
/// | state       | received              | sent                       | deadline        | refusalSent |
/// |-------------|-----------------------|----------------------------|-----------------|-------------|
/// | handshake   | parse, judge, forward | next record / switch       | handshake-timeout | -         |
/// | switching   | forward what came     | splice once both are empty | handshake-timeout | -         |
/// | recordRelay | parse, log, forward; EOF -> shutdown | next record | idle-timeout    | -           |
/// | refusing    | ignored               | counted                    | close           | close       |
/// | splicing    | (SpliceMachine's events)                                                          |
struct PassThroughMachine {
    typealias Event = TransferEvent
    typealias Action = TransferAction

    struct Settings: Sendable {
        var handshakeTimeout: Double
        var idleTimeout: Double
        var pipeSizeLimit: Int
        /// `--record-log records`: every record logged, so the record relay runs to the end.
        var logRecords: Bool
        var splitHello: Bool
        var allowSNIMismatch: Bool
        /// The CONNECT request's host, which the ClientHello's SNI must name.
        var targetHost: String
    }

    enum State {
        /// Before `.start`.
        case idle(HandshakeRelay)
        case handshake(HandshakeRelay)
        /// The handshake is over: reads in flight cancelled, what they brought forwarded as is.
        case switching(HandshakeRelay)
        /// `--record-log records`: records relayed (and logged) in userspace to the end.
        case recordRelay(HandshakeRelay)
        /// The client's handshake was refused: its alert is on its way, then `cause` closes.
        case refusing(HandshakeRelay, cause: TransferCloseCause, deadline: UInt64)
        case splicing(SpliceMachine)
        case closed
    }

    /// The record relay's two directions and what they learn together.
    final class HandshakeRelay {
        @exclusivity(unchecked) var tracker = TLSFlowTracker()
        let up: HandshakeRecordStream
        let down: HandshakeRecordStream
        /// Client bytes after the CONNECT head, at `pipelined` in the client buffer.
        let pipelined: Range<Int>
        /// The last alert seen, and who sent it.
        @exclusivity(unchecked) var lastAlert: (sender: TransferSide, alert: String)?
        @exclusivity(unchecked) var versionNoted = false
        @exclusivity(unchecked) var lastActivity: UInt64 = 0
        @exclusivity(unchecked) var deadline: UInt64 = 0

        init(up: HandshakeRecordStream, down: HandshakeRecordStream, pipelined: Range<Int>) {
            self.up = up
            self.down = down
            self.pipelined = pipelined
        }

        func stream(_ d: TransferDirection) -> HandshakeRecordStream { d == .up ? up : down }
    }

    /// The alerts a refused handshake gets (RFC 8446 6.2): `access_denied` for an SNI that is not
    /// the CONNECT host, `decode_error` for a ClientHello in fragments too large to judge.
    static let accessDenied: UInt8 = TLSAlert.Code.accessDenied
    static let decodeError: UInt8 = 50

    let settings: Settings
    private(set) var state: State

    /// `clientBuffer` holds the CONNECT request; the bytes at `pipelined` came after its head
    /// and are the first of the client's records. Both buffers (`capacity` bytes each) are the
    /// owner's until `releaseRecordBuffers`.
    init(_ settings: Settings, clientBuffer: UnsafeMutableRawPointer, pipelined: Range<Int>,
         upstreamBuffer: UnsafeMutableRawPointer, capacity: Int) {
        self.settings = settings
        state = .idle(HandshakeRelay(up: HandshakeRecordStream(.up, buffer: clientBuffer, capacity: capacity),
                                     down: HandshakeRecordStream(.down, buffer: upstreamBuffer, capacity: capacity),
                                     pipelined: pipelined))
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch state {
        case .idle(let relay):
            if case .start(let now) = event { begin(relay, now: now, &actions) }
        case .handshake(let relay), .switching(let relay), .recordRelay(let relay):
            relaying(relay, event, &actions)
        case .refusing(let relay, let cause, let deadline):
            refusing(relay, cause: cause, deadline: deadline, event, &actions)
        case .splicing(var splice):
            splice.handle(event, &actions)
            if case .closed = splice.state { state = .closed } else { state = .splicing(splice) }
        case .closed:
            break
        }
    }

    private mutating func begin(_ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        state = .handshake(relay)
        relay.deadline = TransferDeadline.after(settings.handshakeTimeout, from: now)
        actions.append(.setDeadline(relay.deadline))
        let up = relay.up
        if !relay.pipelined.isEmpty {
            up.buffer.copyMemory(from: up.buffer + relay.pipelined.lowerBound, byteCount: relay.pipelined.count)
        }
        up.filled = relay.pipelined.count
        // Pipelined bytes are parsed at once, and may end the connection (not TLS, a bad
        // ClientHello); then nothing more is read.
        readNext(up, relay, now: now, &actions)
        readNext(relay.down, relay, now: now, &actions)
    }

    private mutating func relaying(_ relay: HandshakeRelay, _ event: Event, _ actions: inout [Action]) {
        switch event {
        case .received(let side, let result, let now):
            received(relay.stream(side.outgoing), relay, result: result, now: now, &actions)
        case .sent(let side, let result, let now):
            sent(relay.stream(side.other.outgoing), relay, result: result, now: now, &actions)
        case .shutDown(let d):
            relay.stream(d).flow.shutdownDone()
        case .deadlinePassed(let now):
            deadlinePassed(relay, now: now, &actions)
        default:
            break
        }
    }

    private mutating func refusing(_ relay: HandshakeRelay, cause: TransferCloseCause, deadline: UInt64,
                                   _ event: Event, _ actions: inout [Action]) {
        switch event {
        case .refusalSent:
            close(cause, &actions)
        case .deadlinePassed(let now):
            if now >= deadline { close(cause, &actions) } else { actions.append(.setDeadline(deadline)) }
        case .received(let side, let result, _):
            let s = relay.stream(side.outgoing)
            s.flow.receiving = false
            if result > 0 { s.filled += Int(result) }
        case .sent(let side, let result, let now):
            sent(relay.stream(side.other.outgoing), relay, result: result, now: now, &actions)
        default:
            break
        }
    }

    // MARK: Reading

    private var reading: Bool {
        switch state {
        case .handshake, .recordRelay: return true
        default: return false
        }
    }

    /// Continues a direction: parses what it holds, or reads exactly what the current record lacks.
    mutating func readNext(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        guard reading, s.flow.sourceOpen else { return }
        while true {
            let wanted = s.bytesWanted
            if wanted > 0 {
                guard s.filled + wanted <= s.capacity else {
                    // Only held fragments can get here: one record always fits.
                    refuse(relay, .helloTooLarge(capacity: s.capacity), alert: PassThroughMachine.decodeError, now: now, &actions)
                    return
                }
                s.flow.receiving = true
                actions.append(.receive(s.direction.source, into: s.buffer + s.filled, count: wanted, pollFirst: false))
                return
            }
            if s.recordLength == 0 {
                do {
                    let header = try TLSRecordHeader(bytes: UnsafeRawBufferPointer(start: s.record, count: TLSRecordHeader.size))
                    s.recordLength = TLSRecordHeader.size + header.length
                } catch {
                    close(.invalidTLS(s.direction.source, error, firstRecord: s.records == 0), &actions)
                    return
                }
                continue
            }
            guard processRecord(s, relay, now: now, &actions) else { return }
        }
    }

    private mutating func received(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, result: Int32, now: UInt64,
                                   _ actions: inout [Action]) {
        s.flow.receiving = false
        if result > 0 { s.filled += Int(result) }
        if case .switching = state {
            continueSwitch(relay, now: now, &actions)
            return
        }
        if result > 0 {
            relay.lastActivity = now
            readNext(s, relay, now: now, &actions)
            return
        }
        if result == -EAGAIN || result == -EINTR {
            readNext(s, relay, now: now, &actions)
            return
        }
        let side = s.direction.source
        if result == 0 {
            let end: StreamEnd = s.filled > 0 ? .finMidRecord : .tcpFin
            actions.append(.note(.end(side, end)))
            if case .recordRelay = state {
                halfClose(s, relay, end: end, &actions)
                return
            }
        }
        if case .handshake = state, let (sender, alert) = relay.lastAlert {
            // Whoever closes (or resets) first, the alert is blamed on the side that sent it.
            close(.alertThenClosed(sender: sender, alert: alert, closer: side), &actions)
            return
        }
        if result == 0 {
            let partial = s.filled > 0 ? TransferCloseCause.PartialRecord(have: s.filled, of: max(s.recordLength, TLSRecordHeader.size)) : nil
            close(.closedDuringHandshake(side, partial: partial), &actions)
            return
        }
        fail(side, result: result, &actions)
    }

    /// After the peer's EOF in the record relay: pass the half-close on.
    private mutating func halfClose(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, end: StreamEnd, _ actions: inout [Action]) {
        s.flow.sourceEnded(end)
        if s.filled > 0 {
            close(.closedMidRecord(s.direction.source), &actions)
            return
        }
        s.flow.shutdownSubmitted()
        actions.append(.shutdownWrite(s.direction))
        if !relay.up.flow.sourceOpen && !relay.down.flow.sourceOpen {
            close(.bothClosed, &actions)
        }
    }

    // MARK: Sending

    func send(_ s: HandshakeRecordStream, from: Int, to: Int, _ actions: inout [Action]) {
        s.flow.sending = true
        s.sendOffset = from
        s.sendEnd = to
        actions.append(.send(s.direction.destination, from: s.buffer + from, count: to - from, pollFirst: false))
    }

    private mutating func sent(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, result: Int32, now: UInt64,
                               _ actions: inout [Action]) {
        if result == -EAGAIN || result == -EINTR {
            send(s, from: s.sendOffset, to: s.sendEnd, &actions)
            return
        }
        guard result > 0 else {
            s.flow.sending = false
            fail(s.direction.destination, result: result, &actions)
            return
        }
        s.sendOffset += Int(result)
        s.flow.moved(Int(result))
        actions.append(.moved(s.direction, bytes: Int(result)))
        if s.sendOffset < s.sendEnd {
            send(s, from: s.sendOffset, to: s.sendEnd, &actions)
            return
        }
        s.flow.sending = false
        relay.lastActivity = now
        if s.splitAt > 0 {
            sendSplitSecond(s, &actions)
            return
        }
        switch state {
        case .switching:
            if s.recordLength > 0 { s.consumeRecord() } else { s.filled = 0 }
            continueSwitch(relay, now: now, &actions)
        case .handshake where relay.tracker.isHandshakeComplete:
            s.consumeRecord()
            handshakeFinished(relay, now: now, &actions)
        default:
            s.consumeRecord()
            readNext(s, relay, now: now, &actions)
        }
    }

    // MARK: The handshake's end

    private mutating func handshakeFinished(_ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        guard settings.logRecords else {
            beginSwitch(relay, now: now, &actions)
            return
        }
        state = .recordRelay(relay)
        actions.append(.note(.path(.userspace)))
        relay.lastActivity = now
        relay.deadline = TransferDeadline.after(settings.idleTimeout, from: now)
        actions.append(.setDeadline(relay.deadline))
        if !relay.up.busy { readNext(relay.up, relay, now: now, &actions) }
        if !relay.down.busy { readNext(relay.down, relay, now: now, &actions) }
    }

    /// Stops reading records: a read in flight is cancelled; whatever the reads already brought
    /// is forwarded as it is before splicing starts.
    private mutating func beginSwitch(_ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        state = .switching(relay)
        if relay.up.flow.receiving { actions.append(.cancelReceive(.client)) }
        if relay.down.flow.receiving { actions.append(.cancelReceive(.upstream)) }
        continueSwitch(relay, now: now, &actions)
    }

    private mutating func continueSwitch(_ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        forwardAsItIs(relay.up, &actions)
        forwardAsItIs(relay.down, &actions)
        guard !relay.up.busy, !relay.down.busy, relay.up.filled == 0, relay.down.filled == 0 else { return }
        actions.append(.releaseRecordBuffers)
        var splice = SpliceMachine(.passThrough, idleTimeout: settings.idleTimeout, pipeSizeLimit: settings.pipeSizeLimit)
        splice.handle(.start(now: now), &actions)
        state = .splicing(splice)
    }

    /// While switching: part of a record (or pipelined bytes) goes on untouched.
    private func forwardAsItIs(_ s: HandshakeRecordStream, _ actions: inout [Action]) {
        guard !s.busy && s.filled > 0 else { return }
        s.recordLength = 0
        send(s, from: 0, to: s.filled, &actions)
    }

    // MARK: Ends

    private mutating func deadlinePassed(_ relay: HandshakeRelay, now: UInt64, _ actions: inout [Action]) {
        if relay.deadline == 0 || now < relay.deadline {
            actions.append(.setDeadline(relay.deadline))
            return
        }
        guard case .recordRelay = state else {
            close(.handshakeTimeout(seconds: settings.handshakeTimeout), &actions)
            return
        }
        if now &- relay.lastActivity >= settings.idleTimeout.nanoseconds {
            close(.idleTimeout(seconds: settings.idleTimeout), &actions)
        } else {
            relay.deadline = relay.lastActivity &+ settings.idleTimeout.nanoseconds
            actions.append(.setDeadline(relay.deadline))
        }
    }

    /// Refuses the client's handshake with a fatal alert (access_denied unless told otherwise);
    /// the connection closes once it is out, or after 2 seconds.
    mutating func refuse(_ relay: HandshakeRelay, _ cause: TransferCloseCause, alert: UInt8, now: UInt64,
                         _ actions: inout [Action]) {
        let deadline = TransferDeadline.after(2, from: now)
        state = .refusing(relay, cause: cause, deadline: deadline)
        actions.append(.setDeadline(deadline))
        actions.append(.refuseHandshake(alert: alert))
    }

    private mutating func fail(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        actions.append(.note(.end(side, .failure(result))))
        close(.peerFailed(side, result: result), &actions)
    }

    mutating func close(_ cause: TransferCloseCause, _ actions: inout [Action]) {
        state = .closed
        actions.append(.close(cause))
    }
}
