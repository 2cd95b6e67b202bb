import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The relay when only one leg could move onto kTLS (`--ktls auto` decides per leg: e.g. a
/// TLS 1.2 CBC suite upstream has no kernel offload while the client's AES-GCM does).
///
/// userspace leg -> SSL_read -> send on the kTLS socket (the kernel encrypts);
/// kTLS socket -> recvmsg one record (type in a cmsg) -> SSL_write on the userspace leg.
/// Back-pressure as in the userspace relay: a full engine output stops recvmsg; a pending send
/// stops SSL_read. close_notify passes on as close_notify (sendmsg of an alert record on the kTLS
/// socket), an EOF without one as a bare FIN (Connection+Ends); other alerts end the connection;
/// a KeyUpdate on the kTLS leg ends the connection (Linux 6.1 cannot rekey), tickets arriving
/// there are consumed.
extension Connection {
    /// The leg still in userspace while `kernelLeg` is set.
    var userspaceLeg: TLSLeg? { clientLeg ?? upstreamLeg }

    func startMixedRelay(kernel: KernelLeg, userspace: TLSLeg) {
        kernelLeg = kernel
        if plaintext == nil { plaintext = worker.recordBuffers.take() }
        phase = .mixedRelay
        summary.path = .userspace
        if kernel.isClient {
            summary.clientPath = .ktls
            summary.upstreamPath = .userspace
        } else {
            summary.clientPath = .userspace
            summary.upstreamPath = .ktls
        }
        userspace.engine.keepRecordsInOpenSSL()
        lastActivity = MonotonicClock.now()
        armDeadline(after: config.idleTimeout)
        mixedRelay()
    }

    func mixedRelay() {
        guard phase == .mixedRelay, let k = kernelLeg, let u = userspaceLeg, let plaintext else { return }
        // Userspace leg -> kTLS socket.
        if !k.sending && !k.closeSent {
            if k.pendingStart < k.pendingEnd {
                sendToKernel(k, plaintext)
            } else {
                switch u.engine.read(into: plaintext, max: 16 << 10) {
                case .data(let n):
                    k.pendingStart = 0
                    k.pendingEnd = n
                    sendToKernel(k, plaintext)
                case .needsInput:
                    if u.eof {
                        noteEnd(u, u.engine.hasInput ? .finMidRecord : .fin)
                        closeKernelLeg(k, authenticated: false)
                    }
                case .closed:
                    u.closeNotify = true
                    noteEnd(u, .closeNotify)
                    closeKernelLeg(k, authenticated: true)
                case .failed(let reason):
                    legFailed(u, reason, end: .opensslFailure(reason))
                    return
                }
            }
        }
        // kTLS socket -> userspace leg: a record at a time while the engine's output has room
        // (room is checked now: a send in flight pins the buffer, which then cannot compact).
        while k.incomingStart < k.incomingEnd && u.engine.outbound.writable >= InterceptRelayMachine.recordRoom {
            let w = u.engine.write(UnsafeRawPointer(k.incoming.data + k.incomingStart),
                                   count: min(16 << 10, k.incomingEnd - k.incomingStart))
            if w == 0 { break }
            k.incomingStart += w
        }
        if k.sourceDone && k.incomingStart == k.incomingEnd { passEnd(to: u, authenticated: k.closeNotify) }
        if !k.receiving && !k.sourceDone && k.incomingStart == k.incomingEnd {
            k.receiving = true
            loop.receiveRecord(handle, op: Op.ktlsRecv.rawValue, fd: k.fd, into: k.incoming)
        }
        flush(u)
        receive(u)
        if k.sourceDone && u.writeShut && u.sourceDone && k.writeShut {
            finish(CloseReason(.ok, u.closeNotify || k.closeNotify ? "both sides closed" : "both sides closed without close_notify"))
        }
    }

    private func sendToKernel(_ k: KernelLeg, _ plaintext: UnsafeMutableRawPointer) {
        k.sending = true
        loop.send(handle, op: Op.ktlsSend.rawValue, fd: k.fd, from: plaintext + k.pendingStart,
                  count: k.pendingEnd - k.pendingStart)
    }

    /// Ends Veil's side towards the kTLS leg: close_notify as a record of its own when the end it
    /// passes on was authenticated, then the write side is shut; otherwise a bare FIN.
    private func closeKernelLeg(_ k: KernelLeg, authenticated: Bool) {
        guard !k.closeSent else { return }
        k.closeSent = true
        if !authenticated {
            k.shutting = true
            loop.shutdownWrite(handle, op: Op.ktlsShutdown.rawValue, fd: k.fd)
            return
        }
        k.sending = true
        loop.sendRecord(handle, op: Op.ktlsSend.rawValue, fd: k.fd, type: TLSContentType.alert.rawValue,
                        bytes: TLSAlert.closeNotify.bytes, using: k.control)
    }

    func kernelLegSent(_ result: Int32) {
        guard let k = kernelLeg else { return }
        k.sending = false
        if result < 0 && !SpliceMachine.isTransient(result) {
            finish(gone(client: k.isClient, result: result))
            return
        }
        if k.closeSent {
            if !k.shutting {
                k.shutting = true
                loop.shutdownWrite(handle, op: Op.ktlsShutdown.rawValue, fd: k.fd)
            }
        } else if result > 0 {
            k.pendingStart += Int(result)
            if k.isClient { summary.bytesDown += UInt64(result) } else { summary.bytesUp += UInt64(result) }
            lastActivity = MonotonicClock.now()
        }
        mixedRelay()
    }

    func kernelLegShut() {
        kernelLeg?.writeShut = true
        mixedRelay()
    }

    func kernelLegReceived(_ result: Int32) {
        guard let k = kernelLeg else { return }
        k.receiving = false
        let who = k.isClient ? "client" : "upstream"
        if result < 0 {
            if SpliceMachine.isTransient(result) { mixedRelay(); return }
            if result == -EKEYEXPIRED {
                finish(CloseReason(.error, "\(who) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented"))
            } else {
                finish(gone(client: k.isClient, result: result))
            }
            return
        }
        if result == 0 {
            // EOF with no close_notify (on kTLS, also inside a record: the kernel does not say).
            k.sourceDone = true
            noteEnd(client: k.isClient, .fin)
            mixedRelay()
            return
        }
        let data = k.incoming.body(count: Int(result))
        switch KernelTLSRecord(type: k.incoming.type, body: data) {
        case .applicationData:
            k.incomingStart = 0
            k.incomingEnd = data.count
            lastActivity = MonotonicClock.now()
        case .alert(_, TLSAlert.Code.closeNotify):
            k.sourceDone = true
            k.closeNotify = true
            noteEnd(client: k.isClient, .closeNotify)
        case .alert(_, let description):
            noteEnd(client: k.isClient, .alert(description))
            finish(CloseReason(k.isClient ? .clientGone : .upstreamGone, "\(who) sent alert fatal \(TLSAlert.name(for: description))"))
            return
        case .malformedAlert:
            finish(CloseReason(.error, "\(who) sent a malformed alert"))
            return
        case .newSessionTicket:
            break  // after the switch: consumed
        case .keyUpdate:
            finish(CloseReason(.error, "\(who) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends"))
            return
        case .unexpected(let what):
            finish(CloseReason(.error, "\(who) sent a \(what) after the handshake"))
            return
        }
        mixedRelay()
    }
}
