import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Plain-http proxying (`GET http://host/path HTTP/1.1`): once the upstream connection is up,
/// the request head (`ForwardRequest`: origin-form, hop-by-hop fields removed, `Connection:
/// close`) and exactly the request body go to the origin; the response is spliced back to the
/// client as it comes, and the connection ends when the origin closes. One request per
/// connection: whatever the client sends after the body is never forwarded.
///
/// The sockets are non-blocking (the response splice needs it), so each read of the body and
/// each send to the origin is a poll linked to the operation.
extension Connection {
    func beginForward() {
        guard let f = forward, let request, let buffer = requestBuffer else {
            finish(CloseReason(.error, "internal: plain-http request without its state"))
            return
        }
        phase = .forwarding
        summary.mode = .http
        summary.path = .splice
        lastActivity = MonotonicClock.now()
        armDeadline(after: config.idleTimeout)
        let pipelined = UnsafeRawBufferPointer(start: buffer + request.headerLength,
                                               count: requestFilled - request.headerLength)
        guard let body = f.take(pipelined) else {
            finish(CloseReason(.badRequest, "client sent a malformed chunked request body"))
            return
        }
        stageResponse(f.request.head + Array(pipelined.prefix(body)))
        f.sendStart = 0
        f.sendEnd = responseLength
        Socket.setNonBlocking(clientFD)
        Socket.setNonBlocking(upstreamFD)
        let down = SplicePump(sourceFD: upstreamFD, destinationFD: clientFD,
                              ops: .init(pollIn: .downPollIn, spliceIn: .downSpliceIn, pollOut: .downPollOut,
                                         spliceOut: .downSpliceOut, shutdown: .downShutdown,
                                         control: .downControl, controlSend: .downControlSend))
        spliceDown = down
        do {
            try down.openPipe()
        } catch {
            finish(CloseReason(.error, "cannot start the response relay: \(error)"))
            return
        }
        sendToOrigin(f)
        drive(down)
    }

    /// Completions of the request direction; false for operations that are not its own.
    func forwardCompleted(_ op: Op, result: Int32) -> Bool {
        guard let f = forward else { return false }
        switch op {
        case .upPollOut, .upPollIn:
            return true  // the operation linked to it reports
        case .upstreamSend:
            f.sending = false
            if result == -EAGAIN || result == -EINTR {
                sendToOrigin(f)
            } else if result <= 0 {
                finish(.peerFailed(client: false, result: result))
            } else {
                f.sendStart += Int(result)
                summary.bytesUp += UInt64(result)
                lastActivity = MonotonicClock.now()
                if f.sendStart < f.sendEnd { sendToOrigin(f) } else { receiveBody(f) }
            }
            return true
        case .clientRecv:
            f.receiving = false
            bodyReceived(f, result)
            return true
        default:
            return false
        }
    }

    /// Sends `sendStart..<sendEnd` of the staged head (until it is out), then of the body buffer.
    private func sendToOrigin(_ f: ForwardBody) {
        let base = responseBuffer ?? requestBuffer
        guard let base, f.sendStart < f.sendEnd else { return }
        f.sending = true
        loop.reserve(2)
        loop.poll(handle, op: Op.upPollOut.rawValue, fd: upstreamFD, for: .writable, linkNext: true)
        loop.send(handle, op: Op.upstreamSend.rawValue, fd: upstreamFD, from: base + f.sendStart,
                  count: f.sendEnd - f.sendStart)
    }

    private func receiveBody(_ f: ForwardBody) {
        stageResponse([])  // the head is out; the body goes from the request buffer
        guard !f.done, let buffer = requestBuffer else { return }
        f.receiving = true
        loop.reserve(2)
        loop.poll(handle, op: Op.upPollIn.rawValue, fd: clientFD, for: .readable, linkNext: true)
        loop.recv(handle, op: Op.clientRecv.rawValue, fd: clientFD, into: buffer, count: worker.recordBuffers.bufferSize)
    }

    private func bodyReceived(_ f: ForwardBody, _ result: Int32) {
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            receiveBody(f)
            return
        }
        guard result > 0, let buffer = requestBuffer else {
            finish(result == 0 ? CloseReason(.clientGone, "client closed in the middle of its request body")
                               : .peerFailed(client: true, result: result))
            return
        }
        lastActivity = MonotonicClock.now()
        guard let n = f.take(UnsafeRawBufferPointer(start: buffer, count: Int(result))) else {
            finish(CloseReason(.badRequest, "client sent a malformed chunked request body"))
            return
        }
        f.sendStart = 0
        f.sendEnd = n
        if n > 0 { sendToOrigin(f) } else { receiveBody(f) }
    }
}
