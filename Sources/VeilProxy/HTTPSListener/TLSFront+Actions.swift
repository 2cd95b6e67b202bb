import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Performing the outer session's actions with the runtime's operations: receives and sends on
/// the TLS socket and the bridge, kTLS records, shutdowns, the deadline, the kTLS install, the
/// bridge and the connection behind it, the summary fields, the end.
extension TLSFront {
    /// Performs `actions`; returns the event an action answered at once (a kTLS install, the
    /// bridge opened or not, no record message).
    func perform() -> OuterSessionMachine.Event? {
        var next: OuterSessionMachine.Event?
        // Iterates a copy (a retain): an action that reaches back into this front (the
        // connection vouching for its end) cannot disturb it.
        for action in actions {
            switch action {
            case .receive(.outer, let buffer, let count):
                loop.recv(handle, op: Op.outerRecv.rawValue, fd: fd, into: buffer, count: count)
            case .receive(.bridge, let buffer, let count):
                loop.recv(handle, op: Op.bridgeRecv.rawValue, fd: bridgeFD, into: buffer, count: count)
            case .receiveRecord:
                if receiveMessage == nil { receiveMessage = TLSRecordMessage() }
                if let m = receiveMessage {
                    loop.receiveRecord(handle, op: Op.outerRecordRecv.rawValue, fd: fd, into: m)
                } else {
                    next = .outOfMemory
                }
            case .send(.outer, let bytes, let count):
                loop.send(handle, op: Op.outerSend.rawValue, fd: fd, from: bytes, count: count)
            case .send(.bridge, let bytes, let count):
                loop.send(handle, op: Op.bridgeSend.rawValue, fd: bridgeFD, from: bytes, count: count)
            case .sendRecord(let type, let bytes):
                if sendMessage == nil { sendMessage = TLSRecordMessage() }
                if let m = sendMessage {
                    loop.sendRecord(handle, op: Op.outerSend.rawValue, fd: fd, type: type, bytes: bytes, using: m)
                } else {
                    next = .outOfMemory
                }
            case .shutdownWrite(.outer):
                loop.shutdownWrite(handle, op: Op.outerShutdown.rawValue, fd: fd)
            case .shutdownWrite(.bridge):
                loop.shutdownWrite(handle, op: Op.bridgeShutdown.rawValue, fd: bridgeFD)
            case .setDeadline(.after(let nanoseconds)):
                loop.setDeadline(handle, MonotonicClock.now() + nanoseconds)
            case .setDeadline(.at(let deadline)):
                loop.setDeadline(handle, deadline)
            case .setDeadline(.none):
                loop.setDeadline(handle, 0)
            case .installKernelTLS(let transmit, let receive):
                next = .kernelTLSInstalled(error: KernelTLS.install(fd: fd, transmit: transmit, receive: receive))
            case .openBridge(let info):
                next = openBridge(info)
            case .tunnelEstablished(let path, let note):
                connection?.tunnelEstablished(path: path, note: note)
            case .noteRecords(let what, let note):
                noteRecords(what, note: note)
            case .noteEnd(let end):
                noteOuterEnd(end)
            case .endConnection(let reason):
                if let c = connection { c.finish(c.closingReason ?? reason) }
            case .close(let reason, let summary):
                close(reason, summary: summary)
            }
        }
        return next
    }

    /// The socketpair, the relay buffers and the connection on the other end.
    private func openBridge(_ info: FrontInfo) -> OuterSessionMachine.Event {
        let pair: (Int32, Int32)
        do { pair = try Socket.pair() } catch { return .bridgeFailed("\(error)") }
        bridgeFD = pair.1
        let lent = OuterBuffers(up: worker.recordBuffers.take(), down: worker.recordBuffers.take())
        buffers = lent
        if info.alpn == "h2" {
            // veil relay, HTTP/2: the bridge carries the connection's streams, one bridged
            // connection each (summary lines per stream); a refused client gets GOAWAY.
            worker.startH2Relay(fd: pair.0, front: self, client: peer, info: info, refusal: refusal)
            return .bridgeOpened(lent)
        }
        connection = worker.startBridged(id: id, fd: pair.0, client: peer, front: info, started: started,
                                         refusal: refusal)
        connection?.clientFront = self
        return .bridgeOpened(lent)
    }

    /// The summary field for the outer session's records (`front_records=`, `tunnel_records=`).
    private func noteRecords(_ what: String, note: String?) {
        guard let c = connection else { return }
        if machine.peer.isTunnel {
            c.summary.tunnelRecords = what
            if let note { c.summary.tunnelRecordsNote = note }
        } else {
            c.summary.front?.records = what
            if let note { c.summary.front?.recordsNote = note }
        }
    }

    /// How the peer ended the outer session, for the summary (the connection's, or the line
    /// waiting for this front once the connection has ended).
    private func noteOuterEnd(_ end: StreamEnd) {
        if let c = connection {
            note(end, in: &c.summary)
        } else if let p = pendingSummary {
            note(end, in: &p.summary)
        }
    }

    private func note(_ end: StreamEnd, in summary: inout ConnectionSummary) {
        if machine.peer.isTunnel {
            if summary.tunnelEnd == nil { summary.tunnelEnd = end }
        } else if summary.front != nil && summary.front?.end == nil {
            summary.front?.end = end
        }
    }

    /// The session ended. Before its connection exists the front writes the summary line
    /// (`summary`: the outer session's fields); after, a failure of the outer session ends the
    /// connection with that reason (unless it already answered with one: a client that resets
    /// after reading a 407 must not turn it into client-gone).
    private func close(_ reason: CloseReason, summary: FrontInfo?) {
        if let c = connection {
            if reason.kind != .ok { c.finish(c.closingReason ?? reason) }
        } else if let summary, config.recordLog != .off {
            var s = ConnectionSummary(id: id, started: started, client: peer, mode: config.mode)
            s.front = summary
            s.close = reason
            worker.log(s.line(format: config.logFormat, now: MonotonicClock.now()))
        }
        loop.retire(handle, cancelling: [fd, bridgeFD])
    }
}
