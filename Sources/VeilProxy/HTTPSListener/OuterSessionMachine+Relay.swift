import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Plaintext between the outer TLS session and the bridge, both ways, one operation in flight
/// per direction and bounded buffers (a full side stops the other's reads).
///
/// Userspace: outer bytes -> engine -> SSL_read (or Veil's opener) -> bridge; bridge -> SSL_write
/// (or Veil's sealer) -> outer. kTLS: recvmsg one record (its type tells data from alerts) ->
/// bridge; bridge -> send (the kernel encrypts).
///
/// Ends: the peer's close_notify or EOF becomes a shut write side on the bridge (the connection
/// behind it judges its own TLS inside: a bare EOF here never becomes an authenticated end
/// there). The bridge's EOF becomes close_notify to the peer only when the connection said the
/// end it mirrors was authenticated (`bridgeEndAuthenticated`); else a bare FIN.
extension OuterSessionMachine {
    var relaying: Bool {
        if case .relay = state { return true }
        return false
    }

    mutating func relayStep(_ r: OuterRelay, _ actions: inout [Action]) {
        guard relaying else { return }
        if case .openssl(let e, .pending) = r.records { takeOverRecords(r, e, &actions) }
        pumpUp(r, &actions)
        guard relaying else { return }
        pumpDown(r, &actions)
        guard relaying else { return }
        if r.up.sinkClosing, case .shut = r.down.sink, !r.up.sending, !r.down.sending {
            close(.closed, &actions)
        }
    }

    /// How the peer ended the outer session (the first end seen counts), for the summary.
    mutating func outerEnded(_ r: OuterRelay, _ end: StreamEnd, _ actions: inout [Action]) {
        if r.up.sourceEnded(end) { actions.append(.noteEnd(end)) }
    }

    private static func transient(_ result: Int32) -> Bool {
        result == -EAGAIN || result == -EINTR || result == -ECANCELED
    }

    // MARK: Outer -> bridge

    private mutating func pumpUp(_ r: OuterRelay, _ actions: inout [Action]) {
        guard !r.up.sending, !r.up.sinkClosing else { return }
        if r.upSent < r.upFilled { sendToBridge(r, &actions); return }
        switch r.records {
        case .kernel:
            if r.up.inputEnded { shutBridge(r, &actions) } else { receiveRecord(r, &actions) }
        case .veil(let e, let sealer, let opener):
            if openRecord(r, e, sealer, opener, &actions) {
                if relaying && r.upFilled > 0 { sendToBridge(r, &actions) }
            } else if relaying {
                if r.up.inputEnded {
                    outerEnded(r, e.inbound.readable > 0 ? .finMidRecord : .fin, &actions)  // unless close_notify came
                    shutBridge(r, &actions)
                } else {
                    receiveOuter(r, e, &actions)
                }
            }
            flushOuter(r, e, &actions)  // a KeyUpdate answer
        case .openssl(let e, let takeover):
            // Before a takeover OpenSSL gets whole records only.
            let ready = takeover == .never || e.holdsPlaintextOrRecords || RecordCipher.wholeRecord(in: e.inbound) > 0
            switch ready ? e.read(into: r.upBuffer, max: OuterSessionMachine.chunk) : .needsInput {
            case .data(let n):
                r.opensslRelayed &+= n
                r.upBase = UnsafeRawPointer(r.upBuffer)
                r.upFilled = n
                r.upSent = 0
                sendToBridge(r, &actions)
            case .needsInput:
                if r.up.inputEnded {
                    outerEnded(r, e.hasInput ? .finMidRecord : .fin, &actions)
                    shutBridge(r, &actions)
                } else {
                    receiveOuter(r, e, &actions)
                }
            case .closed:
                outerEnded(r, .closeNotify, &actions)
                shutBridge(r, &actions)
            case .failed(let why):
                failOuter(r, .opensslRead(why), end: .opensslFailure(why), alert: nil, &actions)
                return
            }
            // SSL_read may have queued a reply (a TLS 1.3 KeyUpdate answer).
            flushOuter(r, e, &actions)
        }
    }

    private func receiveOuter(_ r: OuterRelay, _ e: TLSEngine, _ actions: inout [Action]) {
        guard !r.up.receiving else { return }
        r.up.receiving = OuterSessionMachine.receive(into: e.inbound, max: .max, &actions)
    }

    private func receiveRecord(_ r: OuterRelay, _ actions: inout [Action]) {
        guard !r.up.receiving else { return }
        r.up.receiving = true
        actions.append(.receiveRecord)
    }

    /// Userspace: bytes from the peer arrived in the engine's input (or the receive ended).
    mutating func outerReceived(_ result: Int32, _ actions: inout [Action]) {
        switch state {
        case .handshake(let h):
            handshakeReceived(h, result, &actions)
        case .failing(let h, _):
            // Nothing receives while the alert goes out.
            h.receiving = false
            h.engine.inbound.pinned = false
        case .relay(let r):
            r.up.receiving = false
            guard let e = r.records.engine else { return }
            e.inbound.pinned = false
            if OuterSessionMachine.transient(result) { relayStep(r, &actions); return }
            if result < 0 {
                outerEnded(r, .failure(result), &actions)
                close(.socket(errno: -result), &actions)
                return
            }
            if result == 0 {
                // Whether close_notify came first is known once the input is read (pumpUp).
                r.up.transportEnded()
            } else {
                e.inbound.didWrite(Int(result))
            }
            relayStep(r, &actions)
        case .alerting(let r, _):
            r.up.receiving = false
            r.records.engine?.inbound.pinned = false
            if result < 0 && !OuterSessionMachine.transient(result) {
                outerEnded(r, .failure(result), &actions)
                close(.socket(errno: -result), &actions)
            }
        case .created, .installingKernelTLS, .openingBridge, .closed:
            break
        }
    }

    /// kTLS: one record from the peer (its type from the kernel's cmsg).
    mutating func recordReceived(_ result: Int32, type: UInt8, body: UnsafeRawPointer, _ actions: inout [Action]) {
        guard case .relay(let r) = state else {
            if case .alerting(let r, _) = state { r.up.receiving = false }
            return
        }
        r.up.receiving = false
        if OuterSessionMachine.transient(result) { relayStep(r, &actions); return }
        if result < 0 {
            if result == -EKEYEXPIRED {
                close(.kernelKeyExpired, &actions)
            } else {
                outerEnded(r, .failure(result), &actions)
                close(.socket(errno: -result), &actions)
            }
            return
        }
        if result == 0 {
            outerEnded(r, .fin, &actions)
            relayStep(r, &actions)
            return
        }
        let plaintext = UnsafeBufferPointer(start: body.assumingMemoryBound(to: UInt8.self), count: Int(result))
        switch KernelTLSRecord(type: type, body: plaintext) {
        case .applicationData:
            r.upBase = body
            r.upFilled = Int(result)
            r.upSent = 0
        case .alert(_, 0):
            outerEnded(r, .closeNotify, &actions)
        case .alert(_, let description):
            outerEnded(r, .alert(description), &actions)
            close(.alert(description), &actions)
            return
        case .keyUpdate:
            close(.kernelKeyUpdate, &actions)
            return
        case .malformedAlert, .newSessionTicket:
            close(.unexpectedKernelRecord, &actions)
            return
        case .unexpected(let what):
            close(.unexpectedKernelRecordKind(what), &actions)
            return
        }
        relayStep(r, &actions)
    }

    private func sendToBridge(_ r: OuterRelay, _ actions: inout [Action]) {
        r.up.sending = true
        actions.append(.send(.bridge, from: r.upBase + r.upSent, count: r.upFilled - r.upSent))
    }

    mutating func bridgeSent(_ result: Int32, _ actions: inout [Action]) {
        guard case .relay(let r) = state else {
            if case .alerting(let r, _) = state { r.up.sending = false }
            return
        }
        r.up.sending = false
        if result > 0 {
            r.up.moved(Int(result))
            r.upSent += Int(result)
            if r.upSent == r.upFilled { r.upSent = 0; r.upFilled = 0 }
        } else if result != -EAGAIN && result != -EINTR {
            // The connection closed its end: nothing more can go in; the other direction ends it.
            r.upSent = 0
            r.upFilled = 0
            r.up.shutdownSubmitted()
            r.up.shutdownDone()
        }
        relayStep(r, &actions)
    }

    private func shutBridge(_ r: OuterRelay, _ actions: inout [Action]) {
        guard !r.up.sinkClosing else { return }
        r.up.shutdownSubmitted()
        actions.append(.shutdownWrite(.bridge))
    }

    // MARK: Bridge -> outer

    private mutating func pumpDown(_ r: OuterRelay, _ actions: inout [Action]) {
        switch r.records {
        case .kernel:
            guard !r.down.sending else { return }
            if case .shut = r.down.sink { return }
            if r.downSent < r.downFilled { sendPlain(r, &actions); return }
            if r.down.inputEnded { closeOuter(r, &actions); return }
        case .openssl(let e, _):
            // Room is checked now: a send in flight pins the output, which then cannot compact.
            while r.downSent < r.downFilled && e.outbound.writable >= OuterSessionMachine.recordRoom {
                let w = e.write(r.downBuffer + r.downSent, count: r.downFilled - r.downSent)
                if w == 0 { break }
                r.downSent += w
                r.opensslRelayed &+= w
            }
            guard sealed(r, e, &actions) else { return }
        case .veil(let e, let sealer, _):
            while r.downSent < r.downFilled && e.outbound.writable >= OuterSessionMachine.recordRoom {
                let n = min(r.downFilled - r.downSent, RecordCipher.maxPlaintext)
                guard sealer.seal(type: 23, r.downBuffer + r.downSent, count: n, into: e.outbound) != nil else { break }
                r.downSent += n
            }
            guard sealed(r, e, &actions) else { return }
        }
        receiveBridge(r, &actions)
    }

    /// After bridge bytes went into the engine's output: sends it; true when the bridge is to be
    /// read again (everything read from it is in).
    private mutating func sealed(_ r: OuterRelay, _ e: TLSEngine, _ actions: inout [Action]) -> Bool {
        if r.downSent == r.downFilled { r.downSent = 0; r.downFilled = 0 }
        flushOuter(r, e, &actions)
        guard r.downFilled == 0 else { return false }
        if r.down.inputEnded { closeOuter(r, &actions); return false }
        return true
    }

    private func receiveBridge(_ r: OuterRelay, _ actions: inout [Action]) {
        guard !r.down.receiving, !r.down.inputEnded else { return }
        r.down.receiving = true
        actions.append(.receive(.bridge, into: r.downBuffer, count: OuterSessionMachine.chunk))
    }

    mutating func bridgeReceived(_ result: Int32, _ actions: inout [Action]) {
        guard case .relay(let r) = state else {
            if case .alerting(let r, _) = state { r.down.receiving = false }
            return
        }
        r.down.receiving = false
        if result == -EAGAIN || result == -EINTR { relayStep(r, &actions); return }
        if result <= 0 {
            // EOF, or the connection is gone.
            r.down.sourceEnded(result == 0 ? .tcpFin : .failure(result))
        } else {
            // Sent as is (kTLS) or sealed as room allows (userspace), by pumpDown.
            r.downFilled = Int(result)
            r.downSent = 0
        }
        relayStep(r, &actions)
    }

    private func sendPlain(_ r: OuterRelay, _ actions: inout [Action]) {
        r.down.sending = true
        actions.append(.send(.outer, from: UnsafeRawPointer(r.downBuffer + r.downSent), count: r.downFilled - r.downSent))
    }

    /// The bridge is done: close_notify to the peer when the end it mirrors was authenticated
    /// (`bridgeEndAuthenticated`), else nothing; then its write side is shut.
    private mutating func closeOuter(_ r: OuterRelay, _ actions: inout [Action]) {
        let authenticated = r.bridgeEndAuthenticated
        switch r.records {
        case .kernel:
            guard authenticated, r.down.queueEnd(authenticated: true) else {
                r.down.queueEnd(authenticated: false)
                shutOuter(r, &actions)
                return
            }
            r.down.sending = true
            actions.append(.sendRecord(type: 21, bytes: OuterSessionMachine.closeNotify))
        case .openssl(let e, _):
            if r.down.queueEnd(authenticated: authenticated) {
                if authenticated { e.close() } else { e.endWithoutCloseNotify() }
            }
            endAfterOutput(r, e, &actions)
        case .veil(let e, let sealer, _):
            if r.down.queueEnd(authenticated: authenticated), authenticated {
                _ = sealer.seal(type: 21, OuterSessionMachine.closeNotify, into: e.outbound)
            }
            endAfterOutput(r, e, &actions)
        }
    }

    private func endAfterOutput(_ r: OuterRelay, _ e: TLSEngine, _ actions: inout [Action]) {
        flushOuter(r, e, &actions)
        if !r.down.sending && e.outbound.readable == 0 { shutOuter(r, &actions) }
    }

    private func shutOuter(_ r: OuterRelay, _ actions: inout [Action]) {
        guard !r.down.sinkClosing else { return }
        r.down.shutdownSubmitted()
        actions.append(.shutdownWrite(.outer))
    }

    mutating func outerShutDown(_ actions: inout [Action]) {
        guard case .relay(let r) = state else { return }
        r.down.shutdownDone()
        // The peer has had Veil's end; if it keeps its side open, close anyway soon.
        if r.outerInputOpen { actions.append(.setDeadline(.after(nanoseconds: OuterSessionMachine.lingerNanos))) }
        relayStep(r, &actions)
    }

    /// Sends what the engine produced (records, alerts, a KeyUpdate answer), one send at a time.
    func flushOuter(_ r: OuterRelay, _ e: TLSEngine, _ actions: inout [Action]) {
        switch state {
        case .relay, .alerting: break
        default: return
        }
        guard !r.down.sending else { return }
        r.down.sending = OuterSessionMachine.send(e.outbound, &actions)
    }

    mutating func outerSent(_ result: Int32, _ actions: inout [Action]) {
        switch state {
        case .handshake(let h), .failing(let h, _):
            handshakeSent(h, result, &actions)
        case .relay(let r):
            r.down.sending = false
            let e = r.records.engine
            e?.outbound.pinned = false
            if result < 0 && result != -EAGAIN && result != -EINTR {
                close(.socket(errno: -result), &actions)
                return
            }
            let n = max(0, Int(result))
            r.down.moved(n)
            if let e {
                e.outbound.consume(n)
                if !r.down.sinkOpen && e.outbound.readable == 0 { shutOuter(r, &actions) }
            } else if r.down.sinkOpen || r.downSent < r.downFilled {
                r.downSent += n
                if r.downSent == r.downFilled { r.downSent = 0; r.downFilled = 0 }
            } else {
                // kTLS: the close_notify record is out.
                shutOuter(r, &actions)
            }
            relayStep(r, &actions)
        case .alerting(let r, let reason):
            r.down.sending = false
            guard let e = r.records.engine else { close(reason, &actions); return }
            e.outbound.pinned = false
            if result < 0 && result != -EAGAIN && result != -EINTR { close(reason, &actions); return }
            e.outbound.consume(max(0, Int(result)))
            if e.outbound.readable > 0 { flushOuter(r, e, &actions) } else { close(reason, &actions) }
        case .created, .installingKernelTLS, .openingBridge, .closed:
            break
        }
    }
}
