import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The userspace leg of the mixed relay (Connection+MixedTransfer): reading and writing its
/// socket, its records for the record log, and how ends are passed on to it.
///
/// Only an authenticated end becomes close_notify: the kTLS leg's peer's own close_notify. An end
/// without one reaches the userspace leg as a bare FIN (its write side shut with no close_notify
/// before it). Through the HTTPS listener the socket is a socketpair to a `TLSFront`: when Veil
/// shuts that write side after passing on an authenticated end, the front is told, and only then
/// sends close_notify on its outer session (see TLSFront+Transfer).
extension Connection {
    /// Notes how one side ended; the first end seen counts.
    func noteEnd(client: Bool, _ end: StreamEnd) {
        if client {
            if summary.clientEnd == nil { summary.clientEnd = end }
        } else if summary.upstreamEnd == nil {
            summary.upstreamEnd = end
        }
    }

    func noteEnd(_ leg: TLSLeg, _ end: StreamEnd) { noteEnd(client: leg.isClient, end) }

    /// A socket operation on one side failed with `result`: notes the end, and the close reason.
    func gone(client: Bool, result: Int32) -> CloseReason {
        noteEnd(client: client, .failure(result))
        return .peerFailed(client: client, result: result)
    }

    /// The socket a leg runs on.
    func socket(_ leg: TLSLeg) -> Int32 { leg.isClient ? clientFD : upstreamFD }

    /// Reads as much as fits into the leg's engine input.
    func receive(_ leg: TLSLeg) {
        guard !leg.receiving, !leg.eof else { return }
        let op = leg.isClient ? Op.clientRecv : .upstreamRecv
        guard loop.recv(handle, op: op.rawValue, fd: socket(leg), into: leg.engine.inbound) > 0 else { return }
        leg.receiving = true
    }

    func legReceived(_ leg: TLSLeg?, _ result: Int32) {
        guard let leg else { return }
        leg.receiving = false
        leg.engine.inbound.pinned = false
        // A fatal alert is on its way out to the leg's peer: nothing read now matters.
        if phase == .lingering { return }
        if result == -EAGAIN || result == -EINTR {
            mixedRelay()
            return
        }
        if result < 0 {
            finish(gone(client: leg.isClient, result: result))
            return
        }
        if result == 0 {
            leg.eof = true
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            lastActivity = MonotonicClock.now()
            scan(leg, UnsafeRawBufferPointer(start: start, count: Int(result)), inbound: true)
            guard phase != .closing else { return }
        }
        mixedRelay()
    }

    /// Sends what the leg's engine has produced; after a close was queued and everything is out,
    /// shuts the socket's write side.
    func flush(_ leg: TLSLeg) {
        guard !leg.sending, phase != .closing else { return }
        let op = leg.isClient ? Op.clientSend : .upstreamSend
        let sent = loop.send(handle, op: op.rawValue, fd: socket(leg), from: leg.engine.outbound)
        if sent > 0 {
            leg.sending = true
        } else if leg.closeQueued && !leg.writeShut {
            leg.writeShut = true
            if leg.closeNotifyQueued { (leg.isClient ? clientFront : upstreamFront)?.bridgeEndAuthenticated = true }
            loop.shutdownWrite(handle, op: (leg.isClient ? Op.clientShutdown : Op.upstreamShutdown).rawValue,
                               fd: socket(leg))
        }
    }

    func legSent(_ leg: TLSLeg?, _ result: Int32) {
        guard let leg else { return }
        leg.sending = false
        leg.engine.outbound.pinned = false
        if result > 0 {
            leg.engine.outbound.consume(Int(result))
            if leg.isClient { summary.bytesDown += UInt64(result) } else { summary.bytesUp += UInt64(result) }
            lastActivity = MonotonicClock.now()
        } else if result != -EAGAIN && result != -EINTR {
            finish(gone(client: leg.isClient, result: result))
            return
        }
        if phase == .lingering {
            alertProgress(leg)
        } else {
            mixedRelay()
        }
    }

    /// Frames bytes read from (`inbound`) or written to the leg into records, for the record log.
    func scan(_ leg: TLSLeg, _ bytes: UnsafeRawBufferPointer, inbound: Bool) {
        do {
            if inbound {
                try leg.inScanner.feed(bytes) { record in recordSeen(leg, record, inbound: true) }
            } else {
                try leg.outScanner.feed(bytes) { record in recordSeen(leg, record, inbound: false) }
            }
        } catch {
            finish(CloseReason(.handshakeFailed, Connection.describe(error, from: leg.isClient ? .client : .server)))
        }
    }

    private func recordSeen(_ leg: TLSLeg, _ record: RecordScanner.Record, inbound: Bool) {
        // Which end of this leg's TLS session wrote the record.
        let sender: TLSFlowTracker.Side = (leg.isClient == inbound) ? .client : .server
        guard config.recordLog == .records else { return }
        worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                           direction: inbound ? leg.inbound : leg.outbound,
                                           summary: leg.describe(record, from: sender)))
    }

    /// Queues the end of Veil's side towards `leg`: close_notify when the end passed on was
    /// authenticated, else nothing; either way `flush` shuts the write side once everything
    /// queued is out.
    func passEnd(to leg: TLSLeg, authenticated: Bool) {
        guard !leg.closeQueued else { return }
        leg.closeQueued = true
        leg.closeNotifyQueued = authenticated
        if authenticated {
            leg.engine.close()
        } else {
            leg.engine.endWithoutCloseNotify()
        }
    }

    /// The leg's TLS session cannot go on: the connection ends, naming the leg. When its peer
    /// sent a record OpenSSL refuses (it queued the fatal alert already), that alert goes out
    /// first, after what was queued before it, within a second.
    func legFailed(_ leg: TLSLeg, _ why: String, end: StreamEnd) {
        noteEnd(leg, end)
        let reason = CloseReason(leg.isClient ? .clientGone : .upstreamGone, "\(leg.isClient ? "client" : "upstream"): \(why)")
        guard end == .badRecord, phase == .mixedRelay, !leg.writeShut, leg.engine.outbound.readable > 0 else {
            finish(reason)
            return
        }
        pendingClose = reason
        leg.alerting = true
        phase = .lingering
        armDeadline(after: 1)
        flush(leg)
    }

    /// After a send while an alert is on its way out (phase `.lingering`).
    func alertProgress(_ leg: TLSLeg) {
        guard leg.alerting else { return }
        if leg.engine.outbound.readable > 0 {
            flush(leg)
        } else {
            finish(pendingClose ?? CloseReason(.error, "alert sent"))
        }
    }
}
