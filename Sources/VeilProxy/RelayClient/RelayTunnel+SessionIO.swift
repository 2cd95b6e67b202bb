import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Socket I/O of the relay TLS session until the relay's answer: reads into the engine, sends
/// what it produced. Once the relay answers 200 a `TLSFront` takes the session over.
extension RelayTunnel {
    /// Reads from the relay into the engine (handshake, answer and relay alike).
    func receiveRelay() {
        guard !relayReceiving, let e = engine else { return }
        relayReceiving = loop.recv(handle, op: Op.relayRecv.rawValue, fd: fd, into: e.inbound) > 0
    }

    func relayReceived(_ result: Int32) {
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            continuePhase()
            return
        }
        if result < 0 {
            fail(.badGateway, "relay \(relay.address): \(SystemError.message(of: -result))")
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
        case .awaitingStatus: if answered { established() } else { readAnswer() }
        case .connecting, .closing: break
        }
    }

    /// Sends what the engine produced (handshake flights, the CONNECT request, records, alerts).
    func flushRelay() {
        guard !relaySending, let e = engine else { return }
        relaySending = loop.send(handle, op: Op.relaySend.rawValue, fd: fd, from: e.outbound) > 0
    }

    func relaySent(_ result: Int32) {
        if result < 0 && result != -EAGAIN && result != -EINTR {
            fail(.badGateway, "relay \(relay.address): \(SystemError.message(of: -result))")
            return
        }
        engine?.outbound.consume(max(0, Int(result)))
        switch phase {
        case .handshake:
            flushRelay()
        case .awaitingStatus:
            flushRelay()
            if answered { established() }
        case .connecting, .closing:
            break
        }
    }
}
