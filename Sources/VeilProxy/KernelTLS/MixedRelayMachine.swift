import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The relay when only one leg could move onto kTLS (`--ktls auto` decides per leg: e.g. a
/// TLS 1.2 CBC suite upstream has no kernel offload while the client's AES-GCM does), as a
/// value: events in, actions out.
///
///     relaying --(OpenSSL refused a record; its alert still to go out)--> alerting --> closed
///         \--(both ends passed on, an error, an alert, the idle timeout)--> closed
///
/// userspace leg -> SSL_read -> send on the kTLS socket (the kernel encrypts);
/// kTLS socket -> recvmsg one record (type in a cmsg) -> SSL_write on the userspace leg.
/// Back-pressure as in the userspace relay: a full engine output stops recvmsg; a pending send
/// stops SSL_read. close_notify passes on as close_notify (sendmsg of an alert record on the kTLS
/// socket), an EOF without one as a bare FIN, never as close_notify; other alerts end the
/// connection; a KeyUpdate on the kTLS leg ends the connection (Linux 6.1 cannot rekey),
/// tickets arriving there are consumed.
///
/// It drives the userspace leg's `TLSEngine` in memory and never touches a socket, a clock, the
/// worker or the event loop: the owner (Connection+MixedTransfer) performs the actions.
struct MixedRelayMachine {
    struct Settings {
        /// `--idle-timeout` in seconds (0: none).
        let idleTimeout: Double
        /// `--record-log records`: every record of the userspace leg is logged.
        let logRecords: Bool

        var idleNanos: UInt64 { idleTimeout > 0 ? idleTimeout.nanoseconds : 0 }
    }

    enum State {
        case relaying(MixedRelay)
        /// The fatal alert OpenSSL queued for the userspace leg's peer is on its way out; then
        /// the connection ends.
        case alerting(MixedRelay, MixedRelayClose, deadline: UInt64)
        case closed(MixedRelayClose)
    }

    let settings: Settings
    var state: State
    /// The current event's time.
    private(set) var now: UInt64

    static let plaintextChunk = 16 << 10

    /// The relay's data (built by the owner: it holds the kTLS socket's record messages).
    init(settings: Settings, relay: MixedRelay, now: UInt64) {
        self.settings = settings
        self.now = now
        if let log = relay.log {
            let leg = relay.userspace
            leg.engine.onOutput = { [unowned leg] bytes in log.scanOutput(leg, bytes) }
        }
        state = .relaying(relay)
    }

    /// The relay's data, while there is one.
    var relay: MixedRelay? {
        switch state {
        case .relaying(let r), .alerting(let r, _, _): return r
        case .closed: return nil
        }
    }

    /// Handles one event; what to do is appended to `actions`, in order.
    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        // Taken first: the lines of the event that closes are still written.
        let log = settings.logRecords ? relay?.log : nil
        switch event {
        case .start(let now):
            self.now = now
            start(&actions)
        case .received(let result, let now):
            self.now = now
            received(result, &actions)
        case .sent(let result, let now):
            self.now = now
            sent(result, &actions)
        case .shutDown:
            relay?.fromKernel.shutdownDone()
        case .recordReceived(let result, let type, let now):
            self.now = now
            recordReceived(result, type: type, &actions)
        case .kernelSent(let result, let now):
            self.now = now
            kernelSent(result, &actions)
        case .kernelShutDown:
            if let r = relay {
                r.toKernel.shutdownDone()
                if case .relaying = state { step(r, &actions) }
            }
        case .deadlinePassed(let now):
            self.now = now
            deadlinePassed(&actions)
        }
        if let log {
            for entry in log.entries { actions.append(.logRecord(entry.direction, entry.summary)) }
            log.entries.removeAll(keepingCapacity: true)
            if let failure = log.outputFailure {
                log.outputFailure = nil
                close(.invalidTLS(failure.error, from: failure.side), &actions)
            }
        }
    }

    private mutating func start(_ actions: inout [Action]) {
        guard case .relaying(let r) = state else { return }
        r.userspace.engine.keepRecordsInOpenSSL()
        if settings.idleNanos > 0 { actions.append(.setDeadline(now &+ settings.idleNanos)) }
        step(r, &actions)
    }

    private mutating func deadlinePassed(_ actions: inout [Action]) {
        switch state {
        case .relaying(let r):
            let idle = settings.idleNanos
            guard idle > 0 else { return }
            if now &- r.lastActivity >= idle {
                close(.idle(seconds: settings.idleTimeout), &actions)
            } else {
                actions.append(.setDeadline(r.lastActivity &+ idle))
            }
        case .alerting(_, let cause, let deadline):
            if now >= deadline { close(cause, &actions) } else { actions.append(.setDeadline(deadline)) }
        case .closed:
            break
        }
    }

    /// Ends the connection: `.close`, nothing after it.
    mutating func close(_ cause: MixedRelayClose, _ actions: inout [Action]) {
        if case .closed = state { return }
        state = .closed(cause)
        actions.append(.close(cause.closeReason))
    }

    /// A side's socket operation failed with `result`: its end, and the close.
    mutating func gone(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        actions.append(.note(.end(side, .failure(result))))
        close(.peerFailed(side, result: result), &actions)
    }

    // MARK: The userspace leg

    private mutating func received(_ result: Int32, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r.toKernel.receiving = false
        let leg = r.userspace
        leg.engine.inbound.pinned = false
        // The alert is on its way out to the leg's peer: nothing read now matters.
        guard case .relaying = state else { return }
        if result == -EAGAIN || result == -EINTR {
            step(r, &actions)
            return
        }
        if result < 0 {
            gone(r.userspaceSide, result: result, &actions)
            return
        }
        if result == 0 {
            r.toKernel.transportEnded()
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            r.lastActivity = now
            // Framed always (a record that does not frame ends the connection); logged when asked.
            do {
                if let log = r.log {
                    try log.scanInput(leg, UnsafeRawBufferPointer(start: start, count: Int(result)))
                } else {
                    try leg.inScanner.feed(UnsafeRawBufferPointer(start: start, count: Int(result))) { _ in }
                }
            } catch {
                close(.invalidTLS(error, from: r.userspaceSide), &actions)
                return
            }
        }
        step(r, &actions)
    }

    private mutating func sent(_ result: Int32, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r.fromKernel.sending = false
        let output = r.userspace.engine.outbound
        output.pinned = false
        if result > 0 {
            output.consume(Int(result))
            r.fromKernel.moved(Int(result))
            actions.append(.note(.sent(r.userspaceSide, Int(result))))
            r.lastActivity = now
        } else if result != -EAGAIN && result != -EINTR {
            gone(r.userspaceSide, result: result, &actions)
            return
        }
        switch state {
        case .relaying:
            step(r, &actions)
        case .alerting(_, let cause, _):
            if output.readable > 0 {
                flush(r, &actions)
            } else {
                close(cause, &actions)
            }
        case .closed:
            break
        }
    }

    /// Reads as much as fits into the userspace leg's engine input.
    func receive(_ r: MixedRelay, _ actions: inout [Action]) {
        guard !r.toKernel.receiving, r.toKernel.transportOpen else { return }
        let input = r.userspace.engine.inbound
        _ = input.writePointer  // compacts as the runtime's recv does, before its room is known
        guard input.contiguousWritable > 0 else { return }
        r.toKernel.receiving = true
        actions.append(.receive(into: input))
    }

    /// Sends what the userspace leg's engine has produced; after an end was queued and
    /// everything is out, shuts the socket's write side.
    func flush(_ r: MixedRelay, _ actions: inout [Action]) {
        guard !r.fromKernel.sending else { return }
        let output = r.userspace.engine.outbound
        if output.readable > 0 {
            r.fromKernel.sending = true
            actions.append(.send(from: output))
        } else if case .ending(let authenticated) = r.fromKernel.sink {
            r.fromKernel.shutdownSubmitted()
            actions.append(.shutdownWrite(authenticated: authenticated))
        }
    }

    /// Queues the end of Veil's side towards the userspace leg: close_notify when the kTLS leg's
    /// end was authenticated, else nothing; either way `flush` shuts the write side once
    /// everything queued is out.
    func passEnd(_ r: MixedRelay, authenticated: Bool) {
        guard r.fromKernel.queueEnd(authenticated: authenticated) else { return }
        if authenticated {
            r.userspace.engine.close()
        } else {
            r.userspace.engine.endWithoutCloseNotify()
        }
    }

    /// The userspace leg's TLS session cannot go on: the connection ends, naming the side. When
    /// its peer sent a record OpenSSL refuses (it queued the fatal alert already), that alert
    /// goes out first, after what was queued before it, within a second.
    mutating func sessionFailed(_ r: MixedRelay, _ why: String, _ actions: inout [Action]) {
        let end = StreamEnd.opensslFailure(why)
        actions.append(.note(.end(r.userspaceSide, end)))
        let cause = MixedRelayClose.sessionFailed(r.userspaceSide, why)
        guard end == .badRecord, !r.fromKernel.sinkClosing, r.userspace.engine.outbound.readable > 0 else {
            close(cause, &actions)
            return
        }
        let deadline = now &+ InterceptRelayMachine.alertLinger
        state = .alerting(r, cause, deadline: deadline)
        actions.append(.setDeadline(deadline))
        flush(r, &actions)
    }
}
