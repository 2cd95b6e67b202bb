import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The userspace relay of an intercepted connection once both handshakes are done (InterceptMachine
/// hands the legs over with `.startRelay`), as a value: events in, actions out.
///
///     relaying --(a refused record, answered with a fatal alert still to go out)--> alerting --> closed
///         \--(both ends passed on, an error, the idle timeout)--> closed
///
/// - relaying: SSL_read on one leg, SSL_write on the other (Veil's own record layer after the
///   takeover: InterceptRelayMachine+Records), in both directions after every completion, with
///   bounded buffers (a full output stops reading from the other side). How each side's stream
///   ends is passed on (InterceptRelayMachine+Ends): close_notify as close_notify, an EOF
///   without it as a bare FIN, never as close_notify.
/// - alerting: a fatal alert to one peer is on its way out (after what was queued before it);
///   reads are ignored; the connection ends once it is sent, or after a second.
///
/// It drives the two `TLSEngine`s and `RecordCipher`s in memory and never touches a socket, a
/// clock (time comes in the events), the worker or the event loop: the owner (`Connection`,
/// Connection+InterceptRelay) performs the actions.
struct InterceptRelayMachine {
    struct Settings {
        /// `--idle-timeout` in seconds (0: none).
        let idleTimeout: Double
        /// `--record-layer`: whether Veil's record layer takes over from OpenSSL.
        let recordLayer: RecordLayerMode
        /// `--record-log records`: every record is logged.
        let logRecords: Bool
        /// How long the upstream handshake took: the takeover waits about that long for a
        /// TLS 1.3 upstream's first ticket (2-50 ms).
        let upstreamHandshakeNanos: UInt64
        /// How long no data may move either way before the connection's memory is given back
        /// (`.release`); 0: never.
        var releaseAfterNanos: UInt64 = InterceptRelayMachine.releaseAfter

        var idleNanos: UInt64 { idleTimeout > 0 ? idleTimeout.nanoseconds : 0 }
    }

    enum State {
        case relaying(InterceptRelay)
        /// A fatal alert to `to`'s peer is on its way out; then the connection ends with `reason`.
        case alerting(InterceptRelay, to: TransferSide, InterceptRelayClose, deadline: UInt64)
        case closed(InterceptRelayClose)
    }

    let settings: Settings
    var state: State
    /// The current event's time.
    private(set) var now: UInt64 = 0

    /// Room an engine's output must have before another record is sealed into it.
    static let recordRoom = 17 << 10
    static let plaintextChunk = 16 << 10
    /// Plaintext relayed through OpenSSL before Veil's record layer takes over.
    static let takeoverAfterBytes = 64 << 10
    /// How long a fatal alert may take to go out.
    static let alertLinger: UInt64 = 1_000_000_000
    /// How long a connection moves no data before its legs give their memory back: long enough
    /// that a transfer never pays for it (at most one release per pause), short enough that a
    /// thousand idle connections hold little.
    static let releaseAfter: UInt64 = 200_000_000
    /// The largest record with its header (TLS 1.2 allows 2048 bytes of expansion).
    static let largestRecord = 5 + (16 << 10) + 2048

    /// The legs as the handshakes left them (what is in flight on them included); `plaintext`
    /// is the owner's buffer for SSL_read, at least `plaintextChunk` bytes.
    init(settings: Settings, client: TLSLeg, upstream: TLSLeg, plaintext: UnsafeMutableRawPointer, now: UInt64) {
        self.settings = settings
        let relay = InterceptRelay(client: client, upstream: upstream, plaintext: plaintext,
                                   logRecords: settings.logRecords, now: now)
        if let log = relay.log {
            for leg in [client, upstream] {
                leg.engine.onOutput = { [unowned leg] bytes in log.scanOutput(leg, bytes) }
            }
        }
        state = .relaying(relay)
        self.now = now
    }

    /// Handles one event; what to do is appended to `actions`, in order.
    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        // Taken first: the lines of the event that closes are still written.
        let log = settings.logRecords ? relay?.log : nil
        switch event {
        case .received(let side, let result, let now):
            self.now = now
            received(side, result: result, &actions)
        case .sent(let side, let result, let now):
            self.now = now
            sent(side, result: result, &actions)
        case .shutDown(let side):
            relay?[side.incoming].shutdownDone()
        case .deadlinePassed(let now):
            self.now = now
            deadlinePassed(&actions)
        case .start(let now):
            self.now = now
            start(&actions)
        }
        if let log { flushRecordLog(log, &actions) }
    }

    /// The relay's data, while there is one.
    var relay: InterceptRelay? {
        switch state {
        case .relaying(let r), .alerting(let r, _, _, _): return r
        case .closed: return nil
        }
    }

    private mutating func start(_ actions: inout [Action]) {
        guard case .relaying(let r) = state else { return }
        if let at = nextDeadline(r) { actions.append(.setDeadline(at)) }
        chooseRecordLayer(r, &actions)
        step(r, &actions)
    }

    private mutating func received(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r[side.outgoing].receiving = false
        let leg = r.leg(side)
        leg.engine.inbound.pinned = false
        // A fatal alert is on its way out to one peer: nothing read now matters.
        guard case .relaying = state else { return }
        if result == -EAGAIN || result == -EINTR {
            step(r, &actions)
            return
        }
        if result < 0 {
            gone(side, result: result, &actions)
            return
        }
        if result == 0 {
            r[side.outgoing].transportEnded()
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            dataMoved(r, &actions)
            if let log = r.log {
                do {
                    try log.scanInput(leg, UnsafeRawBufferPointer(start: start, count: Int(result)))
                } catch {
                    close(.invalidTLS(error, from: side), &actions)
                    return
                }
            }
        }
        step(r, &actions)
    }

    private mutating func sent(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r[side.incoming].sending = false
        let output = r.leg(side).engine.outbound
        output.pinned = false
        if result > 0 {
            output.consume(Int(result))
            r[side.incoming].moved(Int(result))
            actions.append(.note(.sent(side, Int(result))))
            dataMoved(r, &actions)
        } else if result != -EAGAIN && result != -EINTR {
            gone(side, result: result, &actions)
            return
        }
        switch state {
        case .relaying:
            step(r, &actions)
        case .alerting(_, let to, let cause, _):
            guard side == to else { return }
            if output.readable > 0 {
                flush(r, side, &actions)
            } else {
                close(cause, &actions)
            }
        case .closed:
            break
        }
    }

    private mutating func deadlinePassed(_ actions: inout [Action]) {
        switch state {
        case .relaying(let r):
            let idle = settings.idleNanos
            if idle > 0 && now &- r.lastActivity >= idle {
                close(.idle(seconds: settings.idleTimeout), &actions)
                return
            }
            if !r.memoryReleased && settings.releaseAfterNanos > 0 && now &- r.lastActivity >= settings.releaseAfterNanos {
                releaseMemory(r, &actions)
            }
            if let at = nextDeadline(r) { actions.append(.setDeadline(at)) }
        case .alerting(_, _, let cause, let deadline):
            if now >= deadline { close(cause, &actions) } else { actions.append(.setDeadline(deadline)) }
        case .closed:
            break
        }
    }

    /// The relay's next deadline: the idle timeout, and before it, while the connection holds
    /// its memory, the moment to give it back; nil for none.
    func nextDeadline(_ r: InterceptRelay) -> UInt64? {
        var at: UInt64? = settings.idleNanos > 0 ? r.lastActivity &+ settings.idleNanos : nil
        if !r.memoryReleased && settings.releaseAfterNanos > 0 {
            let release = r.lastActivity &+ settings.releaseAfterNanos
            if let idleAt = at { at = min(idleAt, release) } else { at = release }
        }
        return at
    }

    /// Data moved. After a release the next quiet moment is watched for again (once per pause,
    /// not per record: nothing else is done here while the memory is held).
    private func dataMoved(_ r: InterceptRelay, _ actions: inout [Action]) {
        r.lastActivity = now
        if r.memoryReleased {
            r.memoryReleased = false
            if let at = nextDeadline(r) { actions.append(.setDeadline(at)) }
        }
    }

    /// No data has moved either way for `releaseAfterNanos`: both legs give back what they
    /// hold while idle (what a leg still holds bytes in is kept: see `TLSEngine.releaseIdleMemory`).
    private func releaseMemory(_ r: InterceptRelay, _ actions: inout [Action]) {
        r.memoryReleased = true
        actions.append(.release(.client))
        actions.append(.release(.upstream))
        actions.append(.releaseScratch(r.plaintext))
    }

    /// Ends the connection: `.close`, nothing after it.
    mutating func close(_ cause: InterceptRelayClose, _ actions: inout [Action]) {
        if case .closed = state { return }
        state = .closed(cause)
        actions.append(.close(cause.closeReason))
    }

    /// A side's socket operation failed with `result`: its end, and the close.
    mutating func gone(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        actions.append(.note(.end(side, .failure(result))))
        close(.peerFailed(side, result: result), &actions)
    }

    /// Record log lines gathered during the event (some from OpenSSL's output callback), and a
    /// record Veil wrote that does not frame.
    private mutating func flushRecordLog(_ log: InterceptRecordLog, _ actions: inout [Action]) {
        if !log.entries.isEmpty {
            for entry in log.entries { actions.append(.logRecord(entry.direction, entry.summary)) }
            log.entries.removeAll(keepingCapacity: true)
        }
        if let failure = log.outputFailure {
            log.outputFailure = nil
            close(.invalidTLS(failure.error, from: failure.side), &actions)
        }
    }
}
