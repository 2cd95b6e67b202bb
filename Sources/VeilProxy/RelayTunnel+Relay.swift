import VeilRuntime
import VeilTLS
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// Moving plaintext between the bridge socket and the relay's TLS session, both ways, one
/// operation in flight per direction and bounded buffers (a full side stops the other's reads).
///
/// bridge -> SSL_write -> relay; relay -> SSL_read -> bridge. The bridge's EOF becomes
/// close_notify and a shut write side towards the relay; the relay's close_notify or EOF
/// becomes a shut write side on the bridge.
extension RelayTunnel {
    private static let recordRoom = 17 << 10
    private static let chunk = 16 << 10
    /// How long a relay that got close_notify may take to close before the socket is closed.
    private static let lingerNanos: UInt64 = 2_000_000_000

    func relayStep() {
        guard phase == .relay else { return }
        pumpFromRelay()
        guard phase == .relay else { return }
        pumpToRelay()
        guard phase == .relay else { return }
        if bridgeWriteShut && relayWriteShut && !bridgeSending && !relaySending {
            finish(CloseReason(.ok, "closed"))
        }
    }

    // MARK: Relay -> bridge

    private func pumpFromRelay() {
        guard !bridgeSending, !bridgeWriteShut else { return }
        if downSent < downFilled { sendToBridge(); return }
        guard let e = engine, let down else { return }
        switch e.read(into: down, max: RelayTunnel.chunk) {
        case .data(let n):
            downFilled = n
            downSent = 0
            sendToBridge()
        case .needsInput:
            if relayDone { shutBridge() } else { receiveRelay() }
        case .closed:
            relayDone = true
            shutBridge()
        case .failed(let reason):
            finish(CloseReason(.relayFailed, "relay \(relay.address): \(reason)"))
            return
        }
        // SSL_read may have queued a reply (a TLS 1.3 KeyUpdate answer).
        flushRelay()
    }

    /// Reads from the relay into the engine (handshake, answer and relay alike).
    func receiveRelay() {
        guard !relayReceiving, let e = engine else { return }
        let count = e.inbound.contiguousWritable
        guard count > 0 else { return }
        relayReceiving = true
        e.inbound.pinned = true
        loop.recv(handle, op: Op.relayRecv.rawValue, fd: fd, into: e.inbound.writePointer, count: count)
    }

    func relayReceived(_ result: Int32) {
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            continuePhase()
            return
        }
        if result < 0 {
            let why = "relay \(relay.address): \(SystemError.message(of: -result))"
            if phase == .relay { finish(CloseReason(.relayFailed, why)) } else { fail(.badGateway, why) }
            return
        }
        if result == 0 {
            relayDone = true
        } else {
            engine?.inbound.didWrite(Int(result))
        }
        continuePhase()
    }

    private func continuePhase() {
        switch phase {
        case .handshake: driveHandshake()
        case .awaitingStatus: readAnswer()
        case .relay: relayStep()
        case .connecting, .closing: break
        }
    }

    private func sendToBridge() {
        guard let down else { return }
        bridgeSending = true
        loop.send(handle, op: Op.bridgeSend.rawValue, fd: bridgeFD, from: down + downSent, count: downFilled - downSent,
                  flags: Int32(MSG_NOSIGNAL))
    }

    func bridgeSent(_ result: Int32) {
        bridgeSending = false
        if result > 0 {
            downSent += Int(result)
            if downSent == downFilled { downSent = 0; downFilled = 0 }
        } else if result != -EAGAIN && result != -EINTR {
            // The connection closed its end: nothing more can go in; the other direction ends it.
            downSent = 0
            downFilled = 0
            relayDone = true
            bridgeWriteShut = true
        }
        relayStep()
    }

    private func shutBridge() {
        guard !bridgeWriteShut else { return }
        bridgeWriteShut = true
        loop.shutdown(handle, op: Op.bridgeShutdown.rawValue, fd: bridgeFD, how: Int32(SHUT_WR))
    }

    // MARK: Bridge -> relay

    private func pumpToRelay() {
        guard let e = engine, let up else { return }
        // Room is checked now: a send in flight pins the output, which then cannot compact.
        while upSent < upFilled && e.outbound.writable >= RelayTunnel.recordRoom {
            let w = e.write(up + upSent, count: upFilled - upSent)
            if w == 0 { break }
            upSent += w
        }
        if upSent == upFilled { upSent = 0; upFilled = 0 }
        flushRelay()
        guard upFilled == 0 else { return }
        if bridgeDone { closeRelay(); return }
        receiveBridge()
    }

    private func receiveBridge() {
        guard !bridgeReceiving, !bridgeDone, let up else { return }
        bridgeReceiving = true
        loop.recv(handle, op: Op.bridgeRecv.rawValue, fd: bridgeFD, into: up, count: RelayTunnel.chunk)
    }

    func bridgeReceived(_ result: Int32) {
        bridgeReceiving = false
        if result == -EAGAIN || result == -EINTR { relayStep(); return }
        if result <= 0 {
            // EOF, or the connection is gone: either way the relay gets close_notify.
            bridgeDone = true
            relayStep()
            return
        }
        upFilled = Int(result)
        upSent = 0
        relayStep()
    }

    /// The bridge is done: close_notify to the relay, then its write side is shut.
    private func closeRelay() {
        guard let e = engine else { return }
        if !closeQueued {
            closeQueued = true
            e.close()
        }
        flushRelay()
        if !relaySending && e.outbound.readable == 0 { shutRelay() }
    }

    private func shutRelay() {
        guard !relayWriteShut, !relayShutting else { return }
        relayShutting = true
        loop.shutdown(handle, op: Op.relayShutdown.rawValue, fd: fd, how: Int32(SHUT_WR))
    }

    func relayWriteShutDone() {
        relayWriteShut = true
        // The relay has had close_notify; if it keeps the connection open, close it anyway soon.
        if !relayDone { loop.setDeadline(handle, MonotonicClock.now() + RelayTunnel.lingerNanos) }
        relayStep()
    }

    /// Sends what the engine produced (handshake flights, the CONNECT request, records, alerts).
    func flushRelay() {
        guard !relaySending, let e = engine, e.outbound.readable > 0 else { return }
        relaySending = true
        e.outbound.pinned = true
        loop.send(handle, op: Op.relaySend.rawValue, fd: fd, from: e.outbound.readPointer, count: e.outbound.readable,
                  flags: Int32(MSG_NOSIGNAL))
    }

    func relaySent(_ result: Int32) {
        if result < 0 && result != -EAGAIN && result != -EINTR {
            let why = "relay \(relay.address): \(SystemError.message(of: -result))"
            if phase == .relay { finish(CloseReason(.relayFailed, why)) } else { fail(.badGateway, why) }
            return
        }
        engine?.outbound.consume(max(0, Int(result)))
        switch phase {
        case .handshake, .awaitingStatus:
            flushRelay()
        case .relay:
            if closeQueued, let e = engine, e.outbound.readable == 0 { shutRelay() }
            relayStep()
        case .connecting, .closing:
            break
        }
    }
}
