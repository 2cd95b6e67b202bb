import VeilWire
import VeilRuntime

/// The configured resolvers in order: the static map first, then (if enabled) the system
/// resolver or the encrypted ones. Every failure says how to fix it (`ResolveAdvice`).
public struct ResolverChain: Resolver {
    public let staticMap: StaticResolver
    public let fallback: (any Resolver)?

    public init(staticMap: StaticResolver, fallback: (any Resolver)?) {
        self.staticMap = staticMap
        self.fallback = fallback
    }

    public var name: String { fallback.map { "static+\($0.name)" } ?? "static" }

    public func resolve(host: String, port: UInt16,
                        completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        if let addrs = staticMap.lookup(host: host, port: port) {
            return .success(ResolvedAddresses(addresses: addrs, source: "static"))
        }
        guard let fallback else {
            return .failure(ResolveAdvice.staticOnly(host: host, port: port))
        }
        return fallback.resolve(host: host, port: port, completion: completion)
    }
}
