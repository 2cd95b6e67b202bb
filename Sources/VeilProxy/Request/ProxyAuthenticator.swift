import VeilResolver
import VeilWire
import Dispatch
import VeilRuntime
import VeilTLS

/// Client authentication (`--auth`, `--auth-file`): `Proxy-Authorization: Basic` on CONNECT and
/// plain-http requests of both listeners. A request without credentials gets `407` with a
/// challenge (not counted: browsers ask first without); wrong credentials get `407` and count
/// towards the client address's failures, and past `limit` within `window` the address gets
/// `429` for `block` seconds. Hash checks (bcrypt and friends take tens of milliseconds) run on
/// a Dispatch queue, never on a ring thread; credentials that passed are remembered per worker
/// (by their SHA-256, never in clear) for `rememberSeconds`, so a browser's many connections
/// cost one check.
final class ProxyAuthenticator: Sendable {
    enum Decision {
        case allowed(user: String)
        /// No usable credentials: 407 with the challenge.
        case missing
        /// Wrong credentials (already counted): 407.
        case wrong(reason: String)
        /// The address is refused for a while: 429.
        case blocked(reason: String)
        /// A slow check is needed: `verify` on the queue, then `record`.
        case check(BasicCredentials, key: [UInt8])
    }

    static let challenge = "Basic realm=\"veil\", charset=\"UTF-8\""
    static let rememberSeconds: Double = 300

    let users: ProxyUsers
    let failures: AuthFailureLimiter
    private let queue = DispatchQueue(label: "veil.auth", attributes: .concurrent)

    init(users: ProxyUsers, failures: AuthFailureLimiter = AuthFailureLimiter()) {
        self.users = users
        self.failures = failures
    }

    /// Judges a request's `Proxy-Authorization` value from `client` (an address) at `now`.
    func decide(_ header: String?, client: String, now: Double, remembered: WorkerAuthCache) -> Decision {
        let blocked = failures.blockedFor(client, now: now)
        if blocked > 0 {
            return .blocked(reason: "too many failed proxy logins from \(client): refused for another \(Int(blocked.rounded(.up)))s")
        }
        guard let header, let credentials = BasicCredentials(header: header) else { return .missing }
        let key = Digest.sha256(Array(credentials.user.utf8) + [0] + credentials.password)
        if let user = remembered.lookup(key, now: now) { return .allowed(user: user) }
        if users.hasHashes { return .check(credentials, key: key) }
        return record(credentials, key: key, valid: users.verify(user: credentials.user, password: credentials.password),
                      client: client, now: now, remembered: remembered)
    }

    /// Runs the slow check off the ring; `done` gets the result on the queue's thread.
    func verify(_ credentials: BasicCredentials, done: @escaping @Sendable (Bool) -> Void) {
        let users = self.users
        queue.async { done(users.verify(user: credentials.user, password: credentials.password)) }
    }

    /// The outcome of a check: remembered when valid, counted when not.
    func record(_ credentials: BasicCredentials, key: [UInt8], valid: Bool, client: String, now: Double,
                remembered: WorkerAuthCache) -> Decision {
        if valid {
            remembered.insert(key, user: credentials.user, until: now + ProxyAuthenticator.rememberSeconds)
            return .allowed(user: credentials.user)
        }
        var reason = "wrong proxy credentials for user \(credentials.user.count > 64 ? String(credentials.user.prefix(64)) + "..." : credentials.user)"
        if failures.recordFailure(client, now: now) { reason += "; \(client) is now refused for \(Int(failures.block))s" }
        return .wrong(reason: reason)
    }
}

/// Credentials that passed on this worker (keyed by their SHA-256), with an expiry. Used on
/// one ring thread only: no lock.
final class WorkerAuthCache {
    private var entries: [[UInt8]: (user: String, until: Double)] = [:]
    private let limit = 4096

    func lookup(_ key: [UInt8], now: Double) -> String? {
        guard let e = entries[key] else { return nil }
        guard e.until > now else { entries[key] = nil; return nil }
        return e.user
    }

    func insert(_ key: [UInt8], user: String, until: Double) {
        if entries.count >= limit { entries.removeAll() }
        entries[key] = (user, until)
    }
}

/// A slow credentials check, delivered to the connection through its loop's mailbox.
struct AuthOutcome: Sendable {
    let credentials: BasicCredentials
    let key: [UInt8]
    let valid: Bool
}
