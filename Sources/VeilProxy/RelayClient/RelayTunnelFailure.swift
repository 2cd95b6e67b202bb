import VeilRuntime

/// Why a `--route tunnel` set-up failed, as a typed cause: the connection answers its client with
/// `status`, and the close reason (byte for byte what the summary line has always said) is built
/// from it in one place.
enum RelayTunnelFailure: Error, Equatable, Sendable {
    /// The socket to the relay could not be made.
    case socket(SystemError)
    /// connect, recv or send on the socket to the relay failed with this errno.
    case socketError(errno: Int32)
    /// No TLS context for relay connections (not configured).
    case noContext
    case setUp(String)
    case closedDuringHandshake
    case handshake(String)
    case noCertificate
    case fingerprintMismatch(got: [UInt8], pinned: RelayFingerprint)
    case requestNotQueued
    /// More than twice the largest answer head arrived without an answer.
    case answerTooLarge
    case answerHeadTooLarge
    /// More than 16 KiB of tunnel data came with the relay's 200.
    case tooMuchAfterAnswer
    /// OpenSSL refused to read on.
    case read(String)
    case closedWithoutAnswer
    /// The relay answered `status` with `reason` (its body, or the reason phrase).
    case refused(status: Int, reason: String)
    case timeout(seconds: Double)

    /// What the connection answers its client.
    var status: HTTPStatusResponse.Status {
        if case .timeout = self { return .gatewayTimeout }
        return .badGateway
    }

    /// The close reason on the summary line; `relay` is the relay's address.
    func closeReason(relay: String) -> CloseReason {
        switch self {
        case .socket(let error): return CloseReason(.relayFailed, "relay \(relay): \(error)")
        case .socketError(let code): return CloseReason(.relayFailed, "relay \(relay): \(SystemError.message(of: code))")
        case .noContext: return CloseReason(.relayFailed, "relay: no TLS context")
        case .setUp(let why): return CloseReason(.relayFailed, "relay TLS set-up: \(why)")
        case .closedDuringHandshake:
            return CloseReason(.relayFailed, "relay \(relay) closed the connection during the TLS handshake")
        case .handshake(let why): return CloseReason(.relayFailed, "relay \(relay): TLS handshake: \(why)")
        case .noCertificate: return CloseReason(.relayFailed, "relay \(relay) presented no certificate")
        case .fingerprintMismatch(let got, let pinned):
            return CloseReason(.relayFailed,
                               "relay certificate fingerprint mismatch (got \(RelayFingerprint.format(got)), pinned \(pinned))")
        case .requestNotQueued: return CloseReason(.relayFailed, "relay: could not queue the CONNECT request")
        case .answerTooLarge: return CloseReason(.relayFailed, "relay: answer too large")
        case .answerHeadTooLarge: return CloseReason(.relayFailed, "relay: answer head too large")
        case .tooMuchAfterAnswer: return CloseReason(.relayFailed, "relay: too much data after its 200")
        case .read(let why): return CloseReason(.relayFailed, "relay \(relay): \(why)")
        case .closedWithoutAnswer:
            return CloseReason(.relayFailed, "relay \(relay) closed the connection without answering CONNECT")
        case .refused(let status, let reason):
            return CloseReason(status == 407 ? .authFailed : .relayFailed, "relay: \(status) \(reason)")
        case .timeout(let seconds):
            return CloseReason(.relayFailed,
                               "relay \(relay) did not answer within \(Int(seconds))s (connect, TLS handshake and CONNECT)")
        }
    }
}
