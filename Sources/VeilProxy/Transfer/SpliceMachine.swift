#if canImport(Glibc)
import Glibc
#endif

/// The splice relay, pipelined: per direction a splice into the pipe (behind a poll of the
/// source) is in flight whenever the pipe has room, and a splice out of it whenever it holds
/// bytes, so the next chunk is read while the previous one is written; never more than the pipe
/// holds is read. Pipes start at the kernel's 64 KiB and grow x4 up to
/// `pipeSizeLimit` while a transfer keeps filling them; a refused growth is not asked again.
/// A source's EOF becomes shutdown(SHUT_WR) on the destination; when both directions are shut
/// the transfer ends (`close=ok`). One machine serves pass-through, kTLS (where a record that
/// is not application data stops the splice and is read with recvmsg: see
/// SpliceMachine+KernelTLS) and the response of a plain-http request (down only).
///
/// States: idle -> opening (pipes asked for) -> relaying -> closed.
struct SpliceMachine {
    typealias Event = TransferEvent
    typealias Action = TransferAction

    /// What the two sockets carry: decides what an EOF is noted as, what a failed splice means,
    /// which directions run and what the summary's path says.
    enum Purpose: Sendable, Equatable {
        /// Pass-through: TLS that is the endpoints' own.
        case passThrough
        /// Both sockets on kTLS: splice moves plaintext.
        case kernelTLS
        /// A plain-http response: the downward direction only.
        case response
    }

    enum State {
        case idle
        case opening
        case relaying(SpliceRelay)
        case closed
    }

    /// Both directions (the upward one absent for a response) and the activity clock.
    final class SpliceRelay {
        let up: SpliceStream?
        let down: SpliceStream
        @exclusivity(unchecked) var lastActivity: UInt64
        @exclusivity(unchecked) var deadline: UInt64

        init(up: SpliceStream?, down: SpliceStream, now: UInt64) {
            self.up = up
            self.down = down
            lastActivity = now
            deadline = 0
        }

        func stream(_ d: TransferDirection) -> SpliceStream? { d == .up ? up : down }

        var allDone: Bool { (up?.flow.isDone ?? true) && down.flow.isDone }
    }

    let purpose: Purpose
    let idleTimeout: Double
    let pipeSizeLimit: Int
    private(set) var state = State.idle

    init(_ purpose: Purpose, idleTimeout: Double, pipeSizeLimit: Int) {
        self.purpose = purpose
        self.idleTimeout = idleTimeout
        self.pipeSizeLimit = pipeSizeLimit
    }

    /// When data last moved (0 before the relay runs).
    var lastActivity: UInt64 {
        if case .relaying(let r) = state { return r.lastActivity }
        return 0
    }

    /// Bytes passed on in `direction` so far.
    func bytes(_ direction: TransferDirection) -> UInt64 {
        if case .relaying(let r) = state { return r.stream(direction)?.flow.bytes ?? 0 }
        return 0
    }

    /// Activity elsewhere in the same connection (a plain-http request going out) keeps the
    /// relay from idling out.
    func noteActivity(_ now: UInt64) {
        if case .relaying(let r) = state { r.lastActivity = now }
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch state {
        case .idle:
            if case .start = event {
                state = .opening
                actions.append(.setNonBlocking)
                actions.append(.openPipes(up: purpose != .response))
            }
        case .opening:
            switch event {
            case .pipesOpened(let upCapacity, let downCapacity, let now):
                start(upCapacity: upCapacity, downCapacity: downCapacity, now: now, &actions)
            case .pipesFailed(let why):
                close(purpose == .response ? .responseRelayUnavailable(why) : .spliceUnavailable(why), &actions)
            default:
                break
            }
        case .relaying(let relay):
            relaying(relay, event, &actions)
        case .closed:
            break
        }
    }

    private mutating func start(upCapacity: Int, downCapacity: Int, now: UInt64, _ actions: inout [Action]) {
        let relay = SpliceRelay(up: purpose == .response ? nil : SpliceStream(.up, pipeCapacity: upCapacity),
                                down: SpliceStream(.down, pipeCapacity: downCapacity), now: now)
        state = .relaying(relay)
        actions.append(.note(.path(purpose == .kernelTLS ? .ktlsSplice : .splice)))
        relay.deadline = TransferDeadline.after(idleTimeout, from: now)
        actions.append(.setDeadline(relay.deadline))
        if let up = relay.up { drive(up, &actions) }
        drive(relay.down, &actions)
    }

    private mutating func relaying(_ relay: SpliceRelay, _ event: Event, _ actions: inout [Action]) {
        switch event {
        case .polled:
            // A poll is hard-linked before its splice, which reports what happened.
            break
        case .splicedIn(let d, let result):
            guard let s = relay.stream(d), s.flow.receiving else { return }
            s.flow.receiving = false
            splicedIn(s, result: result, &actions)
        case .splicedOut(let d, let result, let now):
            guard let s = relay.stream(d), s.flow.sending else { return }
            s.flow.sending = false
            splicedOut(s, relay, result: result, now: now, &actions)
        case .pipeResized(let d, let capacity):
            guard let s = relay.stream(d), s.resizing else { return }
            s.resizing = false
            if let capacity { s.pipeCapacity = capacity } else { s.canGrow = false }
            drive(s, &actions)
        case .shutDown(let d):
            guard let s = relay.stream(d) else { return }
            s.flow.shutdownDone()
            if relay.allDone { close(.bothClosed, &actions) }
        case .recordReceived(let d, let result, let type, let body):
            guard let s = relay.stream(d), s.record == .receiving else { return }
            s.record = .none
            recordReceived(s, result: result, type: type, body: body, &actions)
        case .recordSent(let d, let result):
            guard let s = relay.stream(d), s.record == .sending else { return }
            s.record = .none
            recordSent(s, result: result, &actions)
        case .deadlinePassed(let now):
            if relay.deadline == 0 || now < relay.deadline {
                actions.append(.setDeadline(relay.deadline))
            } else if now &- relay.lastActivity >= idleTimeout.nanoseconds {
                close(.idleTimeout(seconds: idleTimeout), &actions)
            } else {
                relay.deadline = relay.lastActivity &+ idleTimeout.nanoseconds
                actions.append(.setDeadline(relay.deadline))
            }
        case .start, .received, .sent, .refusalSent, .pipesOpened, .pipesFailed:
            break
        }
    }

    /// The splice from the source into the pipe completed.
    private mutating func splicedIn(_ s: SpliceStream, result: Int32, _ actions: inout [Action]) {
        if result > 0 {
            s.inPipe += Int(result)
            if s.inPipe >= s.pipeCapacity && s.canGrow && s.pipeCapacity < pipeSizeLimit {
                // The whole pipe filled: a bulk transfer; take bigger chunks. Idle and
                // interactive tunnels keep small pipes (pipe pages count against per-user limits).
                s.resizing = true
                actions.append(.resizePipe(s.direction, to: min(s.pipeCapacity * 4, pipeSizeLimit)))
            }
        } else if result == 0 {
            // EOF becomes shutdown(SHUT_WR), once the pipe is drained: a bare FIN. On kTLS
            // sockets nothing else is written (close_notify comes as a record of its own, by
            // recvmsg); the kernel does not say whether the stream ended inside a record.
            let end: StreamEnd = purpose == .kernelTLS ? .fin : .tcpFin
            s.flow.sourceEnded(end)
            actions.append(.note(.end(s.direction.source, end)))
        } else if purpose == .kernelTLS && (result == -EINVAL || result == -EIO) {
            // The next record is not application data: splice leaves it queued for recvmsg,
            // read once what came before it is out of the pipe.
            s.record = .next
        } else if !SpliceMachine.isTransient(result) {
            fail(s, reading: true, result: result, &actions)
            return
        } else if s.flow.sending {
            // Nothing came while a chunk is still going out (the pipe may be full): read again
            // when it is out, not at once.
            s.inWaitsForOut = true
        }
        drive(s, &actions)
    }

    /// The splice from the pipe into the destination completed.
    private mutating func splicedOut(_ s: SpliceStream, _ relay: SpliceRelay, result: Int32, now: UInt64,
                                     _ actions: inout [Action]) {
        s.inWaitsForOut = false
        if result > 0 {
            s.inPipe -= Int(result)
            s.flow.moved(Int(result))
            actions.append(.moved(s.direction, bytes: Int(result)))
            relay.lastActivity = now
            // A short write: the destination's buffer is full; wait for room before the next.
            s.outPollFirst = Int(result) < s.outCount
        } else if result == 0 || result == -EAGAIN {
            s.outPollFirst = true
        } else if !SpliceMachine.isTransient(result) {
            fail(s, reading: false, result: result, &actions)
            return
        }
        drive(s, &actions)
    }

    /// Starts what can run in the direction: a splice out whenever the pipe holds bytes, a
    /// splice in whenever the pipe has room; once nothing is in flight and the pipe is empty, a
    /// kTLS record, or the source's end passed on.
    mutating func drive(_ s: SpliceStream, _ actions: inout [Action]) {
        guard s.record == .none || s.record == .next else { return }
        if s.inPipe > 0 && !s.flow.sending {
            s.flow.sending = true
            s.outCount = s.inPipe
            actions.append(.spliceOut(s.direction, count: s.inPipe, pollFirst: s.outPollFirst))
        }
        let room = s.pipeCapacity - s.inPipe
        if s.flow.sourceOpen && s.record == .none && !s.flow.receiving && !s.resizing && !s.inWaitsForOut && room > 0 {
            s.flow.receiving = true
            actions.append(.spliceIn(s.direction, count: room))
        }
        guard !s.flow.receiving && !s.flow.sending && s.inPipe == 0 && !s.resizing else { return }
        if s.record == .next {
            s.record = .receiving
            actions.append(.receiveRecord(s.direction))
        } else if s.flow.sourceOpen {
            return
        } else if let alert = s.alert, s.flow.sinkOpen {
            // kTLS: the peer's close_notify (or fatal alert) goes on as a record of its own.
            s.flow.queueEnd(authenticated: alert.description == 0)
            s.record = .sending
            actions.append(.sendAlertRecord(s.direction, level: alert.level, description: alert.description))
        } else if !s.flow.sinkClosing {
            s.flow.shutdownSubmitted()
            actions.append(.shutdownWrite(s.direction))
        }
    }

    /// Results that only mean "nothing to do right now": retry after the next poll.
    static func isTransient(_ result: Int32) -> Bool {
        result == -EAGAIN || result == -EINTR || result == -ECANCELED
    }

    /// A splice failed: reading from a side or writing to it is that side's fault.
    mutating func fail(_ s: SpliceStream, reading: Bool, result: Int32, _ actions: inout [Action]) {
        let side = reading ? s.direction.source : s.direction.destination
        actions.append(.note(.end(side, .failure(result))))
        close(.peerFailed(side, result: result), &actions)
    }

    mutating func close(_ cause: TransferCloseCause, _ actions: inout [Action]) {
        state = .closed
        actions.append(.close(cause))
    }
}
