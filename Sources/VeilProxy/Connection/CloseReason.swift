import VeilResolver
import VeilWire
import VeilRuntime

/// Why a connection ended: a stable token for scripts (`close=`) and a sentence for people
/// (`reason=`).
public struct CloseReason: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case ok
        case badRequest = "bad-request"
        case forbidden
        case methodNotAllowed = "method-not-allowed"
        case headerTooLarge = "header-too-large"
        case headerTimeout = "header-timeout"
        case resolveFailed = "resolve-failed"
        case unreachable
        case connectTimeout = "connect-timeout"
        case notTLS = "not-tls"
        case sniMismatch = "sni-mismatch"
        case handshakeFailed = "handshake-failed"
        case upstreamCertificate = "upstream-cert"
        case handshakeTimeout = "handshake-timeout"
        case idleTimeout = "idle-timeout"
        case clientGone = "client-gone"
        case upstreamGone = "upstream-gone"
        case overloaded
        case ktlsUnavailable = "ktls-unavailable"
        /// `--ech require` and the target has no usable ECH config (502, nothing connected).
        case echRequired = "ech-required"
        /// The upstream server did not accept Encrypted Client Hello (no fallback to the name in clear).
        case echRejected = "ech-rejected"
        /// The relay refused a wrong or missing secret.
        case authFailed = "auth-failed"
        /// The relay refused a client: too many wrong secrets, or too many connections.
        case rateLimited = "rate-limited"
        /// `--route tunnel`: the relay could not be reached, was not the pinned one, or refused.
        case relayFailed = "relay-failed"
        case shutdown
        case error
    }

    public var kind: Kind
    public var reason: String

    public init(_ kind: Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }

    /// A socket operation on one side failed: `client-gone`/`upstream-gone` with
    /// "client: Connection reset by peer" (errno from a negative io_uring result).
    static func peerFailed(client: Bool, result: Int32) -> CloseReason {
        CloseReason(client ? .clientGone : .upstreamGone,
                    "\(client ? "client" : "upstream"): \(SystemError.message(of: -result))")
    }
}
