import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// What a worker's connections consult while admitting and routing a request: the settings, the
/// relay's gate or the proxy's users, the kernel's kTLS, the resolver's cache for RESOLVE
/// answers. One per worker (the credentials cache in it belongs to that worker's ring thread).
final class RequestPolicy {
    let config: ProxyConfiguration
    /// `veil relay`: the secret, ports and per-client limits (nil for `veil run`).
    let gate: RelayGate?
    /// `--auth`, `--auth-file` (nil: anyone may use the proxy).
    let authenticator: ProxyAuthenticator?
    let authCache: WorkerAuthCache
    /// Whether intercepted data may move onto kTLS here (nil: nothing is intercepted).
    let kernelTLS: KernelTLS.Availability?
    /// What is left of a name's cached TTL at a time (monotonic nanoseconds), for RESOLVE answers.
    let ttlHint: (String, UInt64) -> UInt32
    let parser: ConnectRequestParser
    /// The resolver chain's name, for reasons.
    let resolverName: String

    init(config: ProxyConfiguration, gate: RelayGate?, authenticator: ProxyAuthenticator?,
         authCache: WorkerAuthCache = WorkerAuthCache(), kernelTLS: KernelTLS.Availability?,
         parser: ConnectRequestParser, resolverName: String,
         ttlHint: @escaping (String, UInt64) -> UInt32 = { _, _ in RelayResolution.defaultTTL }) {
        self.config = config
        self.parser = parser
        self.resolverName = resolverName
        self.gate = gate
        self.authenticator = authenticator
        self.authCache = authCache
        self.kernelTLS = kernelTLS
        self.ttlHint = ttlHint
    }

    /// What is left of `host`'s cached answer's TTL when `resolver` caches, else the default.
    static func ttlHint(_ resolver: any Resolver) -> (String, UInt64) -> UInt32 {
        let cache = ((resolver as? ResolverChain)?.fallback as? EncryptedResolver)?.cache
        return { host, now in
            guard let entry = cache?.lookup(host) else { return RelayResolution.defaultTTL }
            return entry.expires > now ? UInt32(max(1, (entry.expires - now) / 1_000_000_000)) : 1
        }
    }
}
