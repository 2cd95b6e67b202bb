import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Moving the bytes of the mixed relay after every completion, and the kTLS socket's side.
extension MixedRelayMachine {
    /// Moves whatever can move both ways, then reads more where there is room.
    mutating func step(_ r: MixedRelay, _ actions: inout [Action]) {
        let u = r.userspace
        // Userspace leg -> kTLS socket.
        if !r.toKernel.sending && r.toKernel.sinkOpen {
            if r.pendingStart < r.pendingEnd {
                sendPlaintext(r, &actions)
            } else {
                switch u.engine.read(into: r.plaintext, max: MixedRelayMachine.plaintextChunk) {
                case .data(let n):
                    r.pendingStart = 0
                    r.pendingEnd = n
                    sendPlaintext(r, &actions)
                case .needsInput:
                    if !r.toKernel.transportOpen {
                        let end: StreamEnd = u.engine.hasInput ? .finMidRecord : .fin
                        if r.toKernel.sourceEnded(end) { actions.append(.note(.end(r.userspaceSide, end))) }
                        closeKernelWrite(r, authenticated: false, &actions)
                    }
                case .closed:
                    if r.toKernel.sourceEnded(.closeNotify) { actions.append(.note(.end(r.userspaceSide, .closeNotify))) }
                    closeKernelWrite(r, authenticated: true, &actions)
                case .failed(let reason):
                    sessionFailed(r, reason, &actions)
                    return
                }
            }
        }
        // kTLS socket -> userspace leg: a record at a time while the engine's output has room
        // (room is checked now: a send in flight pins the buffer, which then cannot compact).
        let output = u.engine.outbound
        while r.incomingStart < r.incomingEnd && output.writable >= InterceptRelayMachine.recordRoom {
            let w = u.engine.write(UnsafeRawPointer(r.incoming.data + r.incomingStart),
                                   count: min(16 << 10, r.incomingEnd - r.incomingStart))
            if w == 0 { break }
            r.incomingStart += w
        }
        let incomingEmpty = r.incomingStart == r.incomingEnd
        if !r.fromKernel.sourceOpen && incomingEmpty { passEnd(r, authenticated: r.fromKernel.sourceEnd == .closeNotify) }
        if !r.fromKernel.receiving && r.fromKernel.sourceOpen && incomingEmpty {
            r.fromKernel.receiving = true
            actions.append(.receiveRecord(into: r.incoming))
        }
        flush(r, &actions)
        receive(r, &actions)
        if !r.fromKernel.sourceOpen && r.fromKernel.sinkClosing && r.toKernel.inputEnded && r.toKernel.sink.isShut {
            close(.bothClosed(authenticated: r.toKernel.sourceEnd == .closeNotify || r.fromKernel.sourceEnd == .closeNotify), &actions)
        }
    }

    private func sendPlaintext(_ r: MixedRelay, _ actions: inout [Action]) {
        r.toKernel.sending = true
        actions.append(.sendPlaintext(UnsafeRawPointer(r.plaintext + r.pendingStart), count: r.pendingEnd - r.pendingStart))
    }

    /// Ends Veil's side towards the kTLS socket: close_notify as a record of its own when the end
    /// it passes on was authenticated, then the write side is shut; otherwise a bare FIN.
    private func closeKernelWrite(_ r: MixedRelay, authenticated: Bool, _ actions: inout [Action]) {
        guard r.toKernel.queueEnd(authenticated: authenticated) else { return }
        if authenticated {
            r.toKernel.sending = true
            actions.append(.sendCloseNotify(using: r.control))
        } else {
            r.toKernel.shutdownSubmitted()
            actions.append(.shutdownKernelWrite)
        }
    }

    /// A send on the kTLS socket completed: plaintext, or the close_notify record.
    /// (While an alert is on its way out to the userspace leg, the kTLS socket's completions
    /// still count, and may still end the connection; nothing else moves.)
    mutating func kernelSent(_ result: Int32, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r.toKernel.sending = false
        if result < 0 && !SpliceMachine.isTransient(result) {
            gone(r.kernelSide, result: result, &actions)
            return
        }
        if case .ending = r.toKernel.sink {
            // The close_notify record is out (or its send failed for now): shut the write side.
            r.toKernel.shutdownSubmitted()
            actions.append(.shutdownKernelWrite)
        } else if result > 0 && r.toKernel.sinkOpen {
            r.pendingStart += Int(result)
            r.toKernel.moved(Int(result))
            actions.append(.note(.sent(r.kernelSide, Int(result))))
            r.lastActivity = now
        }
        if case .relaying = state { step(r, &actions) }
    }

    /// A record (or the end, or an error) from the kTLS socket.
    mutating func recordReceived(_ result: Int32, type: UInt8, _ actions: inout [Action]) {
        guard let r = relay else { return }
        r.fromKernel.receiving = false
        let side = r.kernelSide
        if result < 0 {
            if SpliceMachine.isTransient(result) {
                if case .relaying = state { step(r, &actions) }
            } else if result == -EKEYEXPIRED {
                close(.keyUpdate(side, rejected: true), &actions)
            } else {
                gone(side, result: result, &actions)
            }
            return
        }
        if result == 0 {
            // EOF with no close_notify (on kTLS, also inside a record: the kernel does not say).
            if r.fromKernel.sourceEnded(.fin) { actions.append(.note(.end(side, .fin))) }
            if case .relaying = state { step(r, &actions) }
            return
        }
        let body = UnsafeBufferPointer(start: r.incoming.data, count: Int(result))
        switch KernelTLSRecord(type: type, body: body) {
        case .applicationData:
            r.incomingStart = 0
            r.incomingEnd = body.count
            r.lastActivity = now
        case .alert(_, TLSAlert.Code.closeNotify):
            if r.fromKernel.sourceEnded(.closeNotify) { actions.append(.note(.end(side, .closeNotify))) }
        case .alert(_, let description):
            actions.append(.note(.end(side, .alert(description))))
            close(.alert(side, description), &actions)
            return
        case .malformedAlert:
            close(.malformedAlert(side), &actions)
            return
        case .newSessionTicket:
            break  // after the switch: consumed
        case .keyUpdate:
            close(.keyUpdate(side, rejected: false), &actions)
            return
        case .unexpected(let what):
            close(.unexpected(side, what), &actions)
            return
        }
        if case .relaying = state { step(r, &actions) }
    }
}

extension StreamDirection.Sink {
    /// The shutdown completed.
    var isShut: Bool {
        if case .shut = self { return true }
        return false
    }
}
