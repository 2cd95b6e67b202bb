import VeilWire
import VeilRuntime
import VeilTLS

/// The configured resolvers in order: the static map first, then (if enabled) the system
/// resolver or the encrypted ones. Every failure says how to fix it (`ResolveAdvice`). It also
/// holds the explicit ECH configs (`--ech-config`), which win over a name's HTTPS record.
public struct ResolverChain: Resolver {
    public let staticMap: StaticResolver
    public let fallback: (any Resolver)?
    /// `--ech-config HOST=...`, by lowercased host (no trailing dot).
    public let explicitECH: [String: ECHConfigList]
    /// With a relay configured: the relay as a resolver of HTTPS records (its own cache), for
    /// the ECH configs of targets the relay tunnel carries (`echConfigThroughRelay`).
    public let relayHTTPS: EncryptedResolver?

    public init(staticMap: StaticResolver, fallback: (any Resolver)?, explicitECH: [String: ECHConfigList] = [:],
                relayHTTPS: EncryptedResolver? = nil) {
        self.staticMap = staticMap
        self.fallback = fallback
        self.explicitECH = explicitECH
        self.relayHTTPS = relayHTTPS
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

    /// HTTPS records come from the resolver behind the static map, also for names the map has:
    /// a `--resolve` entry fixes addresses, not a name's keys. With the map alone there is none.
    public func resolveHTTPS(host: String, port: UInt16,
                             completion: @escaping @Sendable (HTTPSOutcome) -> Void) -> HTTPSOutcome? {
        guard let fallback else {
            return .failure("no resolver asks for HTTPS records (--resolver static: --resolve entries only)")
        }
        return fallback.resolveHTTPS(host: host, port: port, completion: completion)
    }

    /// The explicit `--ech-config` list for `host`, if any.
    public func explicitECH(for host: String) -> ECHConfigList? { explicitECH[host.lowercased().trimmingTrailingDot] }

    /// A server rejected `host`'s ECH config from DNS (stale): its cached HTTPS answer (for
    /// `port`: `HTTPSQueryName`) is dropped, so that the next connection asks again
    /// (`--ech-config` entries stay).
    public func forgetECHConfig(for host: String, port: UInt16 = 443) {
        let name = HTTPSQueryName.of(host: host, port: port)
        (fallback as? EncryptedResolver)?.cache.forgetHTTPS(name)
        relayHTTPS?.cache.forgetHTTPS(name)
    }

    /// The ECHConfigList to use for `host` (the API of the upstream leg): an explicit
    /// `--ech-config` entry at once, else the `ech` of the name's HTTPS record (first ServiceMode
    /// record by priority that has one; for a port other than 443 the record of
    /// `_PORT._https.HOST`), at once from the cache or later through `completion`.
    public func echConfig(for host: String, port: UInt16 = 443,
                          completion: @escaping @Sendable (ECHLookup) -> Void) -> ECHLookup? {
        if let list = explicitECH(for: host) { return .explicit(list) }
        if let now = resolveHTTPS(host: host, port: port, completion: { completion(ECHLookup($0, host: host)) }) {
            return ECHLookup(now, host: host)
        }
        return nil
    }

    /// The ECHConfigList for a target the relay tunnel carries (`route tunnel`): an explicit
    /// `--ech-config` entry at once, else the `ech` of the name's HTTPS record asked through the
    /// relay (RESOLVE with `Veil-Want: https`: the relay's resolver answers, as it does for the
    /// address, so the name is asked on neither the local network nor by a resolver here).
    public func echConfigThroughRelay(for host: String, port: UInt16 = 443,
                                      completion: @escaping @Sendable (ECHLookup) -> Void) -> ECHLookup? {
        if let list = explicitECH(for: host) { return .explicit(list) }
        guard let relayHTTPS else { return .none("route tunnel: no relay to ask for HTTPS records") }
        if let now = relayHTTPS.resolveHTTPS(host: host, port: port, completion: { completion(ECHLookup($0, host: host)) }) {
            return ECHLookup(now, host: host)
        }
        return nil
    }
}
