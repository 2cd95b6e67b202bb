import VeilWire
import VeilRuntime

/// Addresses for one name, and which resolver gave them.
public struct ResolvedAddresses: Sendable, Equatable {
    public var addresses: [SocketAddress]
    public var source: String
    /// The name's HTTPS records, when they were asked for too (`resolveWithHTTPS`).
    public var https: HTTPSOutcome?
    public init(addresses: [SocketAddress], source: String, https: HTTPSOutcome? = nil) {
        self.addresses = addresses
        self.source = source
        self.https = https
    }
}

public enum ResolveOutcome: Sendable, Equatable {
    case success(ResolvedAddresses)
    case failure(String)
}

/// Turns a host name into addresses. Implementations never block the calling (ring) thread:
/// they answer at once when they can (static map, cache), or return nil and call `completion`
/// later from another thread. `resolveHTTPS` does the same for the name's HTTPS records.
public protocol Resolver: Sendable {
    var name: String { get }
    func resolve(host: String, port: UInt16,
                 completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome?
    func resolveHTTPS(host: String, port: UInt16, completion: @escaping @Sendable (HTTPSOutcome) -> Void) -> HTTPSOutcome?
}

extension Resolver {
    /// A resolver that cannot ask for HTTPS records (the static map, getaddrinfo) says so.
    public func resolveHTTPS(host: String, port: UInt16, completion: @escaping @Sendable (HTTPSOutcome) -> Void) -> HTTPSOutcome? {
        .failure("the \(name) resolver cannot ask for HTTPS records")
    }

    /// Addresses, then (when they resolved) the name's HTTPS records in `https`: the relay's
    /// answer to `RESOLVE` with `Veil-Want: https`. At once when both are at hand, else through
    /// `completion`, once.
    public func resolveWithHTTPS(host: String, port: UInt16,
                                 completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        let addresses = resolve(host: host, port: port) { outcome in
            if let done = self.addingHTTPS(to: outcome, host: host, port: port, completion: completion) { completion(done) }
        }
        guard let addresses else { return nil }
        return addingHTTPS(to: addresses, host: host, port: port, completion: completion)
    }

    private func addingHTTPS(to outcome: ResolveOutcome, host: String, port: UInt16,
                             completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        guard case .success(let found) = outcome else { return outcome }
        let https = resolveHTTPS(host: host, port: port) { https in
            var r = found
            r.https = https
            completion(.success(r))
        }
        guard let https else { return nil }
        var r = found
        r.https = https
        return .success(r)
    }
}
