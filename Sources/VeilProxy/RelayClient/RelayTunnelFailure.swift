import VeilRuntime
import VeilTLS
import VeilWire

/// Why a `--route tunnel` set-up failed, as a typed cause: the connection answers its client
/// with `status`, and the close reason (byte for byte what the summary line has always said) is
/// built from it here, in one place.
enum RelayTunnelFailure: Error, Equatable, Sendable {
    /// The socket to the relay could not be made.
    case socket(SystemError)
    /// connect, recv or send on the socket to the relay failed with this errno.
    case socketError(errno: Int32)
    /// No TLS context for relay connections (not configured).
    case noContext
    /// The TLS engine could not be made.
    case setUp(String)
    /// The relay closed its side before the TLS handshake was done.
    case closedDuringHandshake
    /// OpenSSL refused the handshake (an alert, a protocol error, not TLS at all).
    case handshake(TLSEngine.HandshakeFailure)
    /// The relay's certificate: none at all, or not the pinned one.
    case noCertificate
    case fingerprintMismatch(got: [UInt8], pinned: RelayFingerprint)
    /// The CONNECT request did not fit in the engine's output.
    case requestNotQueued
    /// More than twice the largest answer head arrived without an answer.
    case answerTooLarge
    case answerHeadTooLarge
    /// More than `RelayTunnelMachine.maxPending` bytes of tunnel data came with the relay's 200.
    case tooMuchAfterAnswer
    /// OpenSSL refused to read on (a bad record, an alert from the relay).
    case read(String)
    /// The relay closed before a complete answer.
    case closedWithoutAnswer
    /// The relay answered `status` with `reason` (its body, or the reason phrase).
    case refused(status: Int, reason: String)
    /// Connect, handshake and answer took longer than `connect-timeout`.
    case timeout(seconds: Double)

    /// The relay could not be reached or did not answer (the next relay may): not a refusal,
    /// not a local fault.
    var meansRelayUnreachable: Bool {
        switch self {
        case .socketError, .closedDuringHandshake, .handshake, .noCertificate, .fingerprintMismatch, .read,
             .closedWithoutAnswer, .timeout, .answerTooLarge, .answerHeadTooLarge:
            return true
        case .socket, .noContext, .setUp, .requestNotQueued, .tooMuchAfterAnswer, .refused:
            return false
        }
    }

    /// What the connection answers its client.
    var status: HTTPStatusResponse.Status {
        if case .timeout = self { return .gatewayTimeout }
        return .badGateway
    }

    /// `auth-failed` for the relay's 407 (a wrong or missing secret), else `relay-failed`.
    var kind: CloseReason.Kind {
        if case .refused(status: 407, reason: _) = self { return .authFailed }
        return .relayFailed
    }

    /// The close reason on the summary line; `relay` is the relay's address.
    func closeReason(relay: String) -> CloseReason {
        CloseReason(kind, text(relay: relay))
    }

    private func text(relay: String) -> String {
        switch self {
        case .socket(let error): "relay \(relay): \(error)"
        case .socketError(let code): "relay \(relay): \(SystemError.message(of: code))"
        case .noContext: "relay: no TLS context"
        case .setUp(let why): "relay TLS set-up: \(why)"
        case .closedDuringHandshake: "relay \(relay) closed the connection during the TLS handshake"
        case .handshake(let why): "relay \(relay): TLS handshake: \(why)"
        case .noCertificate: "relay \(relay) presented no certificate"
        case .fingerprintMismatch(let got, let pinned):
            "relay certificate fingerprint mismatch (got \(RelayFingerprint.format(got)), pinned \(pinned))"
        case .requestNotQueued: "relay: could not queue the CONNECT request"
        case .answerTooLarge: "relay: answer too large"
        case .answerHeadTooLarge: "relay: answer head too large"
        case .tooMuchAfterAnswer: "relay: too much data after its 200"
        case .read(let why): "relay \(relay): \(why)"
        case .closedWithoutAnswer: "relay \(relay) closed the connection without answering CONNECT"
        case .refused(let status, let reason): "relay: \(status) \(reason)"
        case .timeout(let seconds):
            "relay \(relay) did not answer within \(Int(seconds))s (connect, TLS handshake and CONNECT)"
        }
    }
}
