import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Moving plaintext between the outer TLS session and the bridge socket, both ways, one
/// operation in flight per direction and bounded buffers (a full side stops the other's reads).
///
/// Userspace: client bytes -> engine -> SSL_read -> bridge; bridge -> SSL_write -> client.
/// kTLS: recvmsg one record (its type tells data from alerts) -> bridge; bridge -> send (the
/// kernel encrypts).
///
/// Ends: the client's close_notify or EOF becomes a shut write side on the bridge (the
/// connection behind it judges its own TLS inside: a bare EOF here never becomes an
/// authenticated end there). The bridge's EOF becomes close_notify to the client only when the
/// connection said the end it mirrors was authenticated (`bridgeEndAuthenticated`: an
/// intercepted leg's close_notify passed on, or Veil's own complete answer); a pass-through FIN,
/// an end without close_notify, or a connection that failed becomes a bare FIN. The summary
/// says how the client ended the outer session (`front_end=`, `tunnel_end=`).
extension TLSFront {
    private static let recordRoom = 17 << 10
    private static let chunk = 16 << 10
    /// How long a client that got close_notify may take to close before the socket is closed.
    private static let lingerNanos: UInt64 = 2_000_000_000

    func relayStep() {
        guard phase == .relay else { return }
        if takeoverPending, let e = engine { takeOverRecords(e) }
        pumpUp()
        guard phase == .relay else { return }
        pumpDown()
        guard phase == .relay else { return }
        if bridgeWriteShut && clientWriteShut && !bridgeSending && !clientSending {
            finish(CloseReason(.ok, "closed"))
        }
    }

    // MARK: Client -> bridge

    private func pumpUp() {
        guard !bridgeSending, !bridgeWriteShut else { return }
        if upSent < upFilled { sendToBridge(); return }
        if kernel {
            if clientDone { shutBridge() } else { receiveRecord() }
            return
        }
        guard let e = engine, let up else { return }
        if let opener {
            if openClientRecord(e, opener) {
                if phase == .relay && upFilled > 0 { sendToBridge() }
            } else if phase == .relay {
                if clientDone {
                    noteOuterEnd(e.inbound.readable > 0 ? .finMidRecord : .fin)  // unless close_notify came
                    shutBridge()
                } else {
                    receiveClient(e)
                }
            }
            flushClient()  // a KeyUpdate answer
            return
        }
        // Before a takeover OpenSSL gets whole records only.
        let ready = !takeoverPending || e.holdsPlaintextOrRecords || RecordCipher.wholeRecord(in: e.inbound) > 0
        switch ready ? e.read(into: up, max: TLSFront.chunk) : .needsInput {
        case .data(let n):
            opensslRelayed &+= n
            upFilled = n
            upSent = 0
            sendToBridge()
        case .needsInput:
            if clientDone {
                noteOuterEnd(e.hasInput ? .finMidRecord : .fin)
                shutBridge()
            } else {
                receiveClient(e)
            }
        case .closed:
            clientDone = true
            noteOuterEnd(.closeNotify)
            shutBridge()
        case .failed(let reason):
            failOuter(CloseReason(peerGone, "\(peerName): \(reason)"), end: .opensslFailure(reason))
            return
        }
        // SSL_read may have queued a reply (a TLS 1.3 KeyUpdate answer).
        flushClient()
    }

    private func receiveClient(_ e: TLSEngine) {
        guard !clientReceiving else { return }
        clientReceiving = loop.recv(handle, op: Op.clientRecv.rawValue, fd: fd, into: e.inbound) > 0
    }

    private func receiveRecord() {
        guard !clientReceiving else { return }
        if upMessage == nil { upMessage = TLSRecordMessage() }
        guard let m = upMessage else { finish(CloseReason(.error, "out of memory")); return }
        clientReceiving = true
        loop.receiveRecord(handle, op: Op.clientRecv.rawValue, fd: fd, into: m)
    }

    func clientReceived(_ result: Int32) {
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED { relayStep(); return }
        if result < 0 {
            if kernel && result == -EKEYEXPIRED {
                finish(CloseReason(.error, "\(peerName) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented"))
            } else {
                noteOuterEnd(.failure(result))
                finish(peerFailed(result))
            }
            return
        }
        if result == 0 {
            clientDone = true
            if kernel { noteOuterEnd(.fin) }  // (userspace: pumpUp knows whether close_notify came)
            relayStep()
            return
        }
        guard kernel, let m = upMessage else {
            engine?.inbound.didWrite(Int(result))
            relayStep()
            return
        }
        let data = m.body(count: Int(result))
        switch KernelTLSRecord(type: m.type, body: data) {
        case .applicationData:
            upFilled = Int(result)
            upSent = 0
        case .alert(_, 0):
            clientDone = true
            noteOuterEnd(.closeNotify)
        case .alert(_, let description):
            noteOuterEnd(.alert(description))
            finish(CloseReason(peerGone, "\(peerName) sent alert \(TLSAlert.name(for: description))"))
            return
        case .keyUpdate:
            finish(CloseReason(.error, "\(peerName) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS, so the connection ends"))
            return
        case .malformedAlert, .newSessionTicket:
            finish(CloseReason(peerGone, "\(peerName) sent an unexpected record after the handshake"))
            return
        case .unexpected(let what):
            finish(CloseReason(peerGone, "\(peerName) sent a \(what) after the handshake"))
            return
        }
        relayStep()
    }

    private func sendToBridge() {
        let base: UnsafeMutableRawPointer
        if kernel, let m = upMessage { base = UnsafeMutableRawPointer(m.data) }
        else if let up { base = up }
        else { return }
        bridgeSending = true
        loop.send(handle, op: Op.bridgeSend.rawValue, fd: bridgeFD, from: base + upSent, count: upFilled - upSent)
    }

    func bridgeSent(_ result: Int32) {
        bridgeSending = false
        if result > 0 {
            upSent += Int(result)
            if upSent == upFilled { upSent = 0; upFilled = 0 }
        } else if result != -EAGAIN && result != -EINTR {
            // The connection closed its end: nothing more can go in; the other direction ends it.
            upSent = 0
            upFilled = 0
            clientDone = true
            bridgeWriteShut = true
        }
        relayStep()
    }

    private func shutBridge() {
        guard !bridgeWriteShut else { return }
        bridgeWriteShut = true
        loop.shutdownWrite(handle, op: Op.bridgeShutdown.rawValue, fd: bridgeFD)
    }

    // MARK: Bridge -> client

    private func pumpDown() {
        if kernel {
            guard !clientSending, !clientWriteShut else { return }
            if downSent < downFilled { sendPlain(); return }
            if bridgeDone { closeClient(); return }
        } else {
            guard let e = engine, let down else { return }
            // Room is checked now: a send in flight pins the output, which then cannot compact.
            while downSent < downFilled && e.outbound.writable >= TLSFront.recordRoom {
                if sealer != nil {
                    let n = min(downFilled - downSent, RecordCipher.maxPlaintext)
                    guard sealToClient(23, down + downSent, count: n) else { break }
                    downSent += n
                } else {
                    let w = e.write(down + downSent, count: downFilled - downSent)
                    if w == 0 { break }
                    downSent += w
                    opensslRelayed &+= w
                }
            }
            if downSent == downFilled { downSent = 0; downFilled = 0 }
            flushClient()
            guard downFilled == 0 else { return }
            if bridgeDone { closeClient(); return }
        }
        receiveBridge()
    }

    private func receiveBridge() {
        guard !bridgeReceiving, !bridgeDone, let down else { return }
        bridgeReceiving = true
        loop.recv(handle, op: Op.bridgeRecv.rawValue, fd: bridgeFD, into: down, count: TLSFront.chunk)
    }

    func bridgeReceived(_ result: Int32) {
        bridgeReceiving = false
        if result == -EAGAIN || result == -EINTR { relayStep(); return }
        if result <= 0 {
            // EOF, or the connection is gone: either way the client gets close_notify.
            bridgeDone = true
            relayStep()
            return
        }
        // Sent as is (kTLS) or encrypted as room allows (userspace), by pumpDown.
        downFilled = Int(result)
        downSent = 0
        relayStep()
    }

    private func sendPlain() {
        guard let down else { return }
        clientSending = true
        loop.send(handle, op: Op.clientSend.rawValue, fd: fd, from: down + downSent, count: downFilled - downSent)
    }

    /// The bridge is done: close_notify to the client when the end it mirrors was authenticated
    /// (`bridgeEndAuthenticated`), else nothing; then its write side is shut.
    private func closeClient() {
        if !bridgeEndAuthenticated {
            if kernel { shutClient(); return }
            guard let e = engine else { return }
            if !closeQueued {
                closeQueued = true
                if sealer == nil { e.endWithoutCloseNotify() }
            }
            flushClient()
            if !clientSending && e.outbound.readable == 0 { shutClient() }
            return
        }
        if kernel {
            guard !closeQueued else { shutClient(); return }
            closeQueued = true
            if downMessage == nil { downMessage = TLSRecordMessage() }
            guard let m = downMessage else { shutClient(); return }
            clientSending = true
            loop.sendRecord(handle, op: Op.clientSend.rawValue, fd: fd, type: 21, bytes: [1, 0], using: m)
        } else if let e = engine {
            if !closeQueued {
                closeQueued = true
                if sealer != nil { sealToClient(21, [1, 0]) } else { e.close() }
            }
            flushClient()
            if !clientSending && e.outbound.readable == 0 { shutClient() }
        }
    }

    private func shutClient() {
        guard !clientWriteShut, !clientShutting else { return }
        clientShutting = true
        loop.shutdownWrite(handle, op: Op.clientShutdown.rawValue, fd: fd)
    }

    func clientWriteShutDone() {
        clientWriteShut = true
        // The client has had close_notify; if it keeps the connection open, close it anyway soon.
        if !clientDone { loop.setDeadline(handle, MonotonicClock.now() + TLSFront.lingerNanos) }
        relayStep()
    }

    /// Sends what the engine produced (handshake flights, records, alerts).
    func flushClient() {
        guard !clientSending, let e = engine else { return }
        clientSending = loop.send(handle, op: Op.clientSend.rawValue, fd: fd, from: e.outbound) > 0
    }

    func clientSent(_ result: Int32) {
        if result < 0 && result != -EAGAIN && result != -EINTR {
            finish(failure ?? peerFailed(result))
            return
        }
        let n = max(0, Int(result))
        if kernel {
            if !closeQueued || downSent < downFilled {
                downSent += n
                if downSent == downFilled { downSent = 0; downFilled = 0 }
            } else {
                shutClient()
            }
        } else {
            engine?.outbound.consume(n)
        }
        switch phase {
        case .handshake:
            if let e = engine, e.isHandshakeComplete, e.outbound.readable == 0 {
                established(e)
            } else {
                flushClient()
            }
        case .failing, .alerting:
            if let e = engine, e.outbound.readable > 0 { flushClient() } else { finish(failure ?? CloseReason(.error, "alert sent")) }
        default:
            if !kernel, closeQueued, let e = engine, e.outbound.readable == 0 { shutClient() }
            relayStep()
        }
    }
}
