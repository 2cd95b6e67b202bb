import VeilResolver
import VeilWire
import VeilRuntime

/// The relay's checks on a CONNECT request, before any rule, resolution or connect: a client
/// refused too often waits (429), its certificate must be pinned (403, with `client-auth
/// certificate|both`), the secret must match (407, compared in constant time and never logged;
/// with `client-auth secret|both`), the port must be allowed (403), and a client may hold only
/// so many connections (429). Shared by every worker.
final class RelayGate: Sendable {
    enum Admission {
        /// Go on; `slot` must be given back with `release` when the connection ends.
        case admitted(slot: String)
        case refused(HTTPStatusResponse.Status, CloseReason)
    }

    /// The `Proxy-Authenticate` challenge of the relay's 407.
    static let challenge = "Bearer realm=\"veil relay\""

    let settings: RelayServerSettings
    let failures: AuthFailureLimiter
    let connections: ClientConnectionLimit
    private let secret: [UInt8]

    init(settings: RelayServerSettings) {
        self.settings = settings
        secret = Array(settings.secret.utf8)
        failures = AuthFailureLimiter(limit: settings.authFailureLimit, window: settings.authWindow, block: settings.authBlock)
        connections = ClientConnectionLimit(maxPerClient: settings.maxPerClient)
    }

    /// `certificate`: SHA-256 of the client's TLS certificate, if it showed one.
    func admit(_ request: ConnectRequest, client: String, certificate: [UInt8]? = nil, now: Double) -> Admission {
        let ip = RelayGate.address(of: client)
        let blocked = failures.blockedFor(ip, now: now)
        if blocked > 0 {
            return .refused(.tooManyRequests, CloseReason(.rateLimited,
                "too many wrong secrets from \(ip): refused for another \(Int(blocked.rounded(.up)))s"))
        }
        if settings.clientAuth != .secret {
            let pinned = certificate.map { c in settings.clientFingerprints.contains { $0.matches(c) } } ?? false
            if !pinned {
                var reason = certificate.map { "client certificate \(RelayFingerprint.format($0)) is not pinned (--client-fingerprint)" }
                    ?? "client certificate missing (this relay pins its clients' certificates: --client-fingerprint)"
                if failures.recordFailure(ip, now: now) { reason += "; \(ip) is now refused for \(Int(settings.authBlock))s" }
                return .refused(.forbidden, CloseReason(.authFailed, reason))
            }
        }
        guard settings.clientAuth == .certificate || secretMatches(request) else {
            let missing = request.header("Proxy-Authorization") == nil
            let started = failures.recordFailure(ip, now: now)
            var reason = missing ? "relay secret missing (send Proxy-Authorization: Bearer <secret>)" : "wrong relay secret"
            if started { reason += "; \(ip) is now refused for \(Int(settings.authBlock))s" }
            return .refused(.proxyAuthenticationRequired, CloseReason(.authFailed, reason))
        }
        guard settings.allows(port: request.target.port) else {
            return .refused(.forbidden, CloseReason(.forbidden,
                "port \(request.target.port) is not allowed on this relay (--allow-port)"))
        }
        guard connections.acquire(ip) else {
            return .refused(.tooManyRequests, CloseReason(.rateLimited,
                "\(ip) already has \(settings.maxPerClient) connections (--max-per-client)"))
        }
        return .admitted(slot: ip)
    }

    func release(_ slot: String) { connections.release(slot) }

    private func secretMatches(_ request: ConnectRequest) -> Bool {
        guard let presented = RelayGate.bearer(request.header("Proxy-Authorization")) else { return false }
        return ConstantTime.equal(secret, Array(presented.utf8))
    }

    /// The secret of `Bearer <secret>` (scheme in any case).
    static func bearer(_ value: String?) -> String? {
        guard let value else { return nil }
        let v = value.trimmingWhitespace()
        guard v.count > 7, v.prefix(7).lowercased() == "bearer " else { return nil }
        return String(v.dropFirst(7)).trimmingWhitespace()
    }

    /// `1.2.3.4` from `1.2.3.4:5678`, `::1` from `[::1]:5678`.
    static func address(of peer: String) -> String {
        if peer.hasPrefix("["), let close = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<close])
        }
        if let colon = peer.lastIndex(of: ":"), peer.firstIndex(of: ":") == colon {
            return String(peer[..<colon])
        }
        return peer
    }
}
