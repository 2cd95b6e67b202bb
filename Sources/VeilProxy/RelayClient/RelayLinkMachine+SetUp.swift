import VeilRuntime
import VeilWire

/// The link's set-up: connecting, then the TLS handshake's outcome (the pin, then ALPN h2).
extension RelayLinkMachine {
    mutating func connect(now: UInt64, _ actions: inout [Action]) {
        let deadline = now &+ settings.connectTimeout.nanoseconds
        state = .connecting(deadline: deadline)
        actions.append(.setDeadline(deadline))
        actions.append(.connect)
    }

    /// The pin is checked before anything is sent, then the protocol.
    mutating func handshake(_ outcome: Handshake, now: UInt64, _ actions: inout [Action]) {
        switch outcome {
        case .needsInput:
            actions.append(.exchangeHandshake)
        case .complete(let got, let alpn):
            guard let got else { lose("relay sent no certificate", &actions); return }
            guard settings.fingerprint.matches(got) else {
                lose(RelayTunnelFailure.fingerprintMismatch(got: got, pinned: settings.fingerprint).closeReason(relay: settings.relay).reason, &actions)
                return
            }
            guard alpn == "h2" else {
                lose("relay \(settings.relay) did not choose HTTP/2 (ALPN \(alpn ?? "none"))", &actions)
                return
            }
            state = .up(Keepalive())
            actions.append(.up)
            actions.append(.setDeadline(now &+ settings.keepalive.nanoseconds))
        case .failed(let why):
            lose("relay \(settings.relay) TLS handshake: \(why)", &actions)
        }
    }
}
