import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Switching from the record relay to the splice relay, and driving the splice pumps.
extension Connection {
    /// The handshake is over: stop reading records. A pump with a read in flight is cancelled;
    /// whatever it already holds is forwarded as is before splicing starts.
    func beginSwitch() {
        phase = .switching
        for p in [up, down] {
            guard let p else { continue }
            p.stopped = true
            if p.receiving { loop.cancel(handle, op: Op.cancel.rawValue, target: p.recvOp.rawValue) }
        }
        continueSwitch()
    }

    func continueSwitch() {
        guard phase == .switching, let up, let down else { return }
        for p in [up, down] where !p.busy && p.filled > 0 {
            // Part of a record (or pipelined bytes): forward them untouched.
            p.recordLength = 0
            send(p, from: 0, to: p.filled)
        }
        guard !up.busy, !down.busy, up.filled == 0, down.filled == 0 else { return }
        startSplice()
    }

    func startSplice() {
        releaseRecordBuffers()
        let upPump = SplicePump(sourceFD: clientFD, destinationFD: upstreamFD,
                                ops: .init(pollIn: .upPollIn, spliceIn: .upSpliceIn, pollOut: .upPollOut,
                                           spliceOut: .upSpliceOut, shutdown: .upShutdown,
                                           control: .upControl, controlSend: .upControlSend))
        let downPump = SplicePump(sourceFD: upstreamFD, destinationFD: clientFD,
                                  ops: .init(pollIn: .downPollIn, spliceIn: .downSpliceIn, pollOut: .downPollOut,
                                             spliceOut: .downSpliceOut, shutdown: .downShutdown,
                                             control: .downControl, controlSend: .downControlSend))
        spliceUp = upPump
        spliceDown = downPump
        do {
            try upPump.openPipe()
            try downPump.openPipe()
        } catch {
            finish(CloseReason(.error, "cannot start splice relay: \(error)"))
            return
        }
        Socket.setNonBlocking(clientFD)
        Socket.setNonBlocking(upstreamFD)
        phase = .splicing
        summary.path = kernelTLSActive ? .ktlsSplice : .splice
        lastActivity = MonotonicClock.now()
        armDeadline(after: config.idleTimeout)
        drive(upPump)
        drive(downPump)
    }

    /// Starts the next chain of a direction, or passes its EOF on, if nothing is in flight.
    func drive(_ p: SplicePump) {
        guard p.chain == .none else { return }
        if p.inPipe > 0 {
            p.chain = .drain
            p.pending = 2
            loop.reserve(2)
            loop.poll(handle, op: p.ops.pollOut.rawValue, fd: p.destinationFD, for: .writable, linkNext: true)
            loop.splice(handle, op: p.ops.spliceOut.rawValue, from: p.pipeRead, to: p.destinationFD,
                        count: UInt32(p.inPipe))
        } else if !p.sourceEOF {
            p.chain = .fill
            p.pending = 3
            loop.reserve(3)
            loop.poll(handle, op: p.ops.pollIn.rawValue, fd: p.sourceFD, for: .readableOrPeerClosed, linkNext: true)
            loop.splice(handle, op: p.ops.spliceIn.rawValue, from: p.sourceFD, to: p.pipeWrite,
                        count: UInt32(p.pipeCapacity), linkNext: true)
            loop.splice(handle, op: p.ops.spliceOut.rawValue, from: p.pipeRead, to: p.destinationFD,
                        count: UInt32(p.pipeCapacity))
        } else if let alert = p.pendingAlert, !p.alertSent {
            // kTLS: pass the peer's close_notify (or fatal alert) on as a record of its own.
            p.alertSent = true
            sendControlRecord(p, type: 21, bytes: alert)
        } else if !p.shutdownSent {
            p.shutdownSent = true
            loop.shutdownWrite(handle, op: p.ops.shutdown.rawValue, fd: p.destinationFD)
        }
    }

    func spliceCompleted(_ pump: SplicePump?, op: Op, result: Int32) {
        guard let p = pump, phase == .splicing || phase == .forwarding else { return }
        switch op {
        case p.ops.shutdown:
            p.done = true
            if spliceUp?.done ?? true, spliceDown?.done ?? true {
                finish(CloseReason(.ok, "both sides closed"))
            }
            return
        case p.ops.pollIn, p.ops.pollOut: p.pollResult = result
        case p.ops.spliceIn: p.inResult = result
        case p.ops.spliceOut: p.outResult = result
        case p.ops.control:
            p.chain = .none
            controlRecordReceived(p, result: result)
            return
        case p.ops.controlSend:
            p.chain = .none
            if result < 0 && !Connection.isTransient(result) {
                fail(p, upward: p === spliceUp, result: result, reading: false)
                return
            }
            if p.pendingAlert != nil && p.pendingAlert![1] != 0 {
                // A fatal alert went on; the connection ends with it.
                finish(CloseReason(p === spliceUp ? .clientGone : .upstreamGone,
                                   "\(p === spliceUp ? "client" : "upstream") sent alert fatal \(TLSAlert.name(for: p.pendingAlert![1]))"))
                return
            }
            drive(p)
            return
        default: return
        }
        p.pending -= 1
        guard p.pending == 0 else { return }
        let chain = p.chain
        p.chain = .none
        let upward = p === spliceUp
        // kTLS: the next record is not application data; splice leaves it queued for recvmsg.
        var controlRecordNext = false
        if chain == .fill {
            if p.inResult > 0 {
                p.inPipe += Int(p.inResult)
                if Int(p.inResult) == p.pipeCapacity && p.canGrow { p.grow(limit: config.pipeSize) }
            } else if p.inResult == 0 {
                // EOF becomes shutdown(SHUT_WR): a bare FIN. On kTLS sockets nothing else is
                // written (close_notify comes as a control record, passed on by recvmsg/sendmsg);
                // the kernel does not say whether the stream ended inside a record.
                p.sourceEOF = true
                noteEnd(client: upward, kernelTLSActive ? .fin : .tcpFin)
            } else if kernelTLSActive && (p.inResult == -EINVAL || p.inResult == -EIO) {
                controlRecordNext = true
            } else if !Connection.isTransient(p.inResult) {
                fail(p, upward: upward, result: p.inResult, reading: true)
                return
            }
        }
        if p.outResult > 0 {
            p.inPipe -= Int(p.outResult)
            p.bytes += UInt64(p.outResult)
            if upward { summary.bytesUp += UInt64(p.outResult) } else { summary.bytesDown += UInt64(p.outResult) }
            lastActivity = MonotonicClock.now()
        } else if p.outResult < 0 && !Connection.isTransient(p.outResult) {
            fail(p, upward: upward, result: p.outResult, reading: false)
            return
        }
        if controlRecordNext { receiveControlRecord(p) } else { drive(p) }
    }

    /// Results that only mean "nothing to do right now": retry after the next poll.
    static func isTransient(_ result: Int32) -> Bool {
        result == -EAGAIN || result == -EINTR || result == -ECANCELED
    }

    func fail(_ p: SplicePump, upward: Bool, result: Int32, reading: Bool) {
        // Reading from the client or writing to it are client faults; the rest are upstream's.
        finish(gone(client: upward == reading, result: result))
    }
}
