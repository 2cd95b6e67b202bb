import VeilResolver
import VeilWire
import VeilTLS
/// Builds the resolver chain a configuration asks for: the static map first, then the system
/// resolver or the DoH/DoT servers in the configured order. `relayCarrier` (`--relay-mux on`):
/// relay lookups go on the workers' multiplexed relay connections.
public enum ResolverFactory {
    public static func make(_ config: ProxyConfiguration,
                            relayCarrier: (any RelayQueryCarrier)? = nil) throws(StartError) -> ResolverChain {
        let staticMap = StaticResolver(entries: config.staticResolve)
        // A host given twice: the last entry wins (flags come after the file and the environment).
        var ech: [String: ECHConfigList] = [:]
        for entry in config.echConfigs { ech[entry.host] = entry.list }
        // With a relay: HTTPS records of tunnelled targets are asked through it (own cache).
        var relayHTTPS: EncryptedResolver?
        if !config.relays.isEmpty {
            do {
                relayHTTPS = try EncryptedResolver(
                    servers: relayServers(config),  // in order: the next when one cannot answer
                    cache: DNSCache(minTTL: config.dnsMinTTL, maxTTL: config.dnsMaxTTL, negativeTTL: config.dnsNegativeTTL),
                    extraTrustFile: nil, timeout: config.resolverTimeout, relayCarrier: relayCarrier)
            } catch {
                throw StartError("relay HTTPS lookups: TLS set-up: \(error)")
            }
        }
        if config.resolvers == [.system] {
            return ResolverChain(staticMap: staticMap, fallback: SystemResolver(), explicitECH: ech, relayHTTPS: relayHTTPS)
        }
        var servers: [DNSServer] = []
        do {
            for kind in config.resolvers {
                switch kind {
                case .doh:
                    for url in config.dohURLs.isEmpty ? [ProxyConfiguration.defaultDoHURL] : config.dohURLs {
                        servers.append(try DNSServer(dohURL: url, staticMap: staticMap))
                    }
                case .dot:
                    for spec in config.dotServers.isEmpty ? [ProxyConfiguration.defaultDoTServer] : config.dotServers {
                        servers.append(try DNSServer(dotServer: spec, staticMap: staticMap))
                    }
                case .relay:
                    guard !config.relays.isEmpty else {
                        throw StartError("resolver relay needs --relay, --relay-fingerprint and the relay secret")
                    }
                    // Every relay, in order: the next is asked when one cannot answer.
                    servers += relayServers(config)
                case .system:
                    break
                }
            }
        } catch let e as StartError {
            throw e
        } catch {
            throw StartError("resolver: \(error)")
        }
        guard !servers.isEmpty else {
            return ResolverChain(staticMap: staticMap, fallback: nil, explicitECH: ech, relayHTTPS: relayHTTPS)
        }
        let cache = DNSCache(minTTL: config.dnsMinTTL, maxTTL: config.dnsMaxTTL, negativeTTL: config.dnsNegativeTTL)
        do {
            let r = try EncryptedResolver(servers: servers, cache: cache, extraTrustFile: config.resolverCAFile,
                                          timeout: config.resolverTimeout, relayCarrier: relayCarrier)
            return ResolverChain(staticMap: staticMap, fallback: r, explicitECH: ech, relayHTTPS: relayHTTPS)
        } catch {
            throw StartError("resolver TLS set-up: \(error)")
        }
    }

    /// Every configured relay as a resolver server, in order.
    private static func relayServers(_ config: ProxyConfiguration) -> [DNSServer] {
        config.relays.enumerated().map { DNSServer(relay: $1, index: $0) }
    }
}
