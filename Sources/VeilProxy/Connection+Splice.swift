import CVeilShims
import VeilRuntime
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
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

    private func startSplice() {
        releaseRecordBuffers()
        let upPump = SplicePump(sourceFD: clientFD, destinationFD: upstreamFD,
                                ops: .init(pollIn: .upPollIn, spliceIn: .upSpliceIn, pollOut: .upPollOut,
                                           spliceOut: .upSpliceOut, shutdown: .upShutdown))
        let downPump = SplicePump(sourceFD: upstreamFD, destinationFD: clientFD,
                                  ops: .init(pollIn: .downPollIn, spliceIn: .downSpliceIn, pollOut: .downPollOut,
                                             spliceOut: .downSpliceOut, shutdown: .downShutdown))
        spliceUp = upPump
        spliceDown = downPump
        do {
            try upPump.openPipe(size: config.pipeSize)
            try downPump.openPipe(size: config.pipeSize)
        } catch {
            finish(CloseReason(.error, "cannot start splice relay: \(error)"))
            return
        }
        Socket.setNonBlocking(clientFD)
        Socket.setNonBlocking(upstreamFD)
        phase = .splicing
        summary.path = .splice
        lastActivity = MonotonicClock.now()
        armDeadline(after: config.idleTimeout)
        drive(upPump)
        drive(downPump)
    }

    private static let spliceFlags = veil_splice_f_nonblock | veil_splice_f_move

    /// Issues whatever each end of the pipe can do next.
    private func drive(_ p: SplicePump) {
        if !p.inBusy && !p.sourceEOF && p.inPipe < p.pipeCapacity {
            p.inBusy = true
            loop.poll(handle, op: p.ops.pollIn.rawValue, fd: p.sourceFD, events: UInt32(Int16(POLLIN) | veil_pollrdhup))
        }
        if !p.outBusy && p.inPipe > 0 {
            p.outBusy = true
            loop.splice(handle, op: p.ops.spliceOut.rawValue, from: p.pipeRead, to: p.destinationFD,
                        count: UInt32(p.inPipe), flags: Connection.spliceFlags)
        }
        if p.sourceEOF && p.inPipe == 0 && !p.outBusy && !p.shutdownSent {
            p.shutdownSent = true
            loop.shutdown(handle, op: p.ops.shutdown.rawValue, fd: p.destinationFD, how: Int32(SHUT_WR))
        }
    }

    func spliceCompleted(_ pump: SplicePump?, op: Op, result: Int32) {
        guard let p = pump, phase == .splicing else { return }
        let upward = p === spliceUp
        switch op {
        case p.ops.pollIn:
            if result < 0 && result != -EAGAIN && result != -EINTR {
                p.inBusy = false
                fail(p, upward: upward, result: result, reading: true)
                return
            }
            loop.splice(handle, op: p.ops.spliceIn.rawValue, from: p.sourceFD, to: p.pipeWrite,
                        count: UInt32(p.pipeCapacity - p.inPipe), flags: Connection.spliceFlags)
            return
        case p.ops.spliceIn:
            p.inBusy = false
            if result > 0 {
                p.inPipe += Int(result)
            } else if result == 0 {
                p.sourceEOF = true
            } else if result != -EAGAIN && result != -EINTR {
                fail(p, upward: upward, result: result, reading: true)
                return
            }
        case p.ops.spliceOut:
            p.outBusy = false
            if result > 0 {
                p.inPipe -= Int(result)
                p.bytes += UInt64(result)
                if upward { summary.bytesUp += UInt64(result) } else { summary.bytesDown += UInt64(result) }
                lastActivity = MonotonicClock.now()
            } else if result == -EAGAIN || result == -EINTR {
                p.outBusy = true
                loop.poll(handle, op: p.ops.pollOut.rawValue, fd: p.destinationFD, events: UInt32(POLLOUT))
                return
            } else {
                fail(p, upward: upward, result: result, reading: false)
                return
            }
        case p.ops.pollOut:
            p.outBusy = false
            if result < 0 && result != -EAGAIN && result != -EINTR {
                fail(p, upward: upward, result: result, reading: false)
                return
            }
        case p.ops.shutdown:
            p.done = true
            if spliceUp?.done == true && spliceDown?.done == true {
                finish(CloseReason(.ok, "both sides closed"))
            }
            return
        default:
            return
        }
        drive(p)
    }

    private func fail(_ p: SplicePump, upward: Bool, result: Int32, reading: Bool) {
        // Reading from the client or writing to it are client faults; the rest are upstream's.
        let clientSide = upward == reading
        finish(CloseReason(clientSide ? .clientGone : .upstreamGone,
                           "\(clientSide ? "client" : "upstream"): \(SystemError.message(of: -result))"))
    }
}
