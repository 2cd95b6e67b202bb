import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Whether intercepted connections move onto kernel TLS after their handshakes.
public enum KTLSMode: String, Sendable, CaseIterable {
    /// kTLS where the kernel and the cipher allow it, else userspace; decided per connection.
    case auto
    /// Always userspace OpenSSL.
    case off
    /// Refuse intercepted connections that cannot get kTLS.
    case require
}

/// Who protects intercepted records in userspace once both handshakes are done (no kTLS).
public enum RecordLayerMode: String, Sendable, CaseIterable {
    /// Veil's own AEAD record layer (RecordCipher) where the cipher allows, else OpenSSL.
    case veil
    /// OpenSSL's SSL_read and SSL_write throughout.
    case openssl
}

/// A kind of resolver for names the static map does not have.
public enum ResolverKind: String, Sendable, CaseIterable {
    case system, doh, dot
    /// The Veil relay (`RESOLVE` over its pinned, authenticated TLS channel).
    case relay
}

/// Everything `veil run` can be told, after CLI flags, the config file and the environment have
/// been merged by `ConfigurationBuilder`. The defaults are declared here, on the values they set,
/// and are the secure ones; `Setting.all` declares how each is named, parsed and documented (and
/// shows these defaults).
public struct ProxyConfiguration: Sendable {
    public var listen = SocketAddress.loopback(port: 8080)
    /// The HTTPS proxy listener (clients speak TLS to Veil itself); off unless set.
    public var listenTLS: SocketAddress? = nil
    /// The name in the HTTPS listener's certificate (default: its IP address).
    public var listenTLSName: String? = nil
    public var mode: ProxyMode = .intercept
    /// Hosts relayed untouched even in intercept mode.
    public var passthroughHosts: [HostPattern] = []
    /// Where the CA lives (`$VEIL_HOME`, default `~/.veil`).
    public var home = ProxyConfiguration.defaultHome()
    /// Extra trust anchors for upstream verification, on top of the system store.
    public var upstreamCAFile: String? = nil
    /// Skips upstream verification (never the default; loud in the log).
    public var insecureUpstream = false
    public var sniPolicy: SNIPolicy = .real
    /// Per-host SNI policies; the first matching pattern wins over `sniPolicy`.
    public var sniRules: [(pattern: HostPattern, policy: SNIPolicy)] = []
    /// Encrypted Client Hello upstream (RFC 9849): where a config exists, required, or never.
    /// Not yet used by the upstream leg (start-up says so; `require` is refused until it is).
    public var ech: ECHMode = .auto
    /// `--ech auto`: how long the addresses (or a tunnel's 200) wait for a late HTTPS answer.
    public var echWait: Double = 0.5
    /// Per-host ECH policies; the first matching pattern wins over `ech`.
    public var echRules: [(pattern: HostPattern, policy: ECHMode)] = []
    /// `--ech-config HOST=...`: explicit ECHConfigLists, checked when read; they win over DNS.
    public var echConfigs: [ExplicitECHConfig] = []
    /// NSS key log for both legs (created 0600); also taken from SSLKEYLOGFILE.
    public var keylogFile: String? = nil
    /// Oldest TLS version offered upstream: 0x0303 (1.2) or 0x0304 (1.3).
    public var upstreamMinVersion: UInt16 = 0x0303
    /// Key exchange groups offered upstream, OpenSSL list syntax.
    public var upstreamGroups = "X25519:P-256:P-384"
    /// Kernel TLS for intercepted connections: where available (`auto`), never, or required.
    public var ktls: KTLSMode = .auto
    public var recordLayer: RecordLayerMode = .veil
    public var staticResolve: [StaticResolveEntry] = []
    /// Which resolvers answer names not in the static map, in order: `.doh` / `.dot` (encrypted,
    /// the default is DoH to a public resolver addressed by IP), or `.system` alone (plain DNS,
    /// only when asked for); empty: the static map only.
    public var resolvers: [ResolverKind] = [.doh]
    /// DoH servers (RFC 8484) and DoT servers (RFC 7858), each tried in order.
    public var dohURLs: [String] = []
    public var dotServers: [String] = []
    public static let defaultDoHURL = "https://1.1.1.1/dns-query"
    public static let defaultDoTServer = "1.1.1.1:853"
    /// Extra trust anchors for the resolvers' certificates (on top of the system store).
    public var resolverCAFile: String? = nil
    /// Seconds one server gets to answer (connect, TLS handshake, query) before the next is tried.
    public var resolverTimeout: Double = 5
    public var dnsMinTTL: UInt32 = 60
    public var dnsMaxTTL: UInt32 = 3600
    public var dnsNegativeTTL: UInt32 = 60
    /// Whether the system resolver (getaddrinfo, plain DNS) is in use.
    public var systemResolver: Bool { resolvers.contains(.system) }
    public var recordLog: RecordLogLevel = .summary
    public var logFormat: LogFormat = .text
    /// Record and summary lines go here instead of stderr when set.
    public var recordLogFile: String? = nil
    public var splitHello = false
    public var rules = AccessRules.allowAll
    /// Who may use the proxy (`auth`, `auth-file`); empty: anyone who reaches a listener.
    public var users = ProxyUsers()
    /// A listener beyond loopback may serve without `users`.
    public var allowOpenProxy = false
    /// Where `GET /metrics` (Prometheus) and `GET /healthz` are served; nil: nowhere.
    public var metrics: SocketAddress?
    public var allowSNIMismatch = false
    public var workers = 1
    public var maxConnections = 4096
    public var maxHeaderBytes = 8192
    public var connectTimeout: Double = 10
    public var headerTimeout: Double = 10
    public var handshakeTimeout: Double = 15
    public var idleTimeout: Double = 300
    public var grace: Double = 10
    /// Largest capacity a splice pipe grows to (bytes). Pipes start at the kernel's 64 KiB and
    /// grow x4 while a transfer keeps filling them; 0 keeps them at 64 KiB.
    public var pipeSize = 1 << 20
    /// How targets are reached: directly, or through the Veil relay (`route`, `route-rule`).
    public var route: Route = .direct
    /// Per-host routes; the first matching pattern wins over `route`.
    public var routeRules: [(pattern: HostPattern, route: Route)] = []
    /// The relays tunnelled targets go through (`relay` and `relay-token`, repeatable; required
    /// when anything routes through one): new tunnels are spread over the healthy ones, and a
    /// tunnel whose relay cannot be reached goes to the next (`RelayChoice`).
    public var relays: [RelayEndpoint] = []
    /// The first relay (the one `veil resolve` and the start-up line name first).
    public var relay: RelayEndpoint? {
        get { relays.first }
        set {
            if let newValue { if relays.isEmpty { relays = [newValue] } else { relays[0] = newValue } } else { relays = [] }
        }
    }
    /// Tunnels as HTTP/2 CONNECT streams over one multiplexed TLS connection per worker
    /// (`relay-mux`); off: one TLS connection (HTTP/1.1 CONNECT) per tunnel.
    public var relayMux: RelayMuxMode = .off
    /// Seconds between HTTP/2 PINGs on the multiplexed relay connection.
    public var relayKeepalive: Double = 15
    /// PINGs unanswered in a row after which the multiplexed relay connection is dead.
    public var relayDeadAfter = 2
    /// False for `veil relay`: only the TLS listener accepts connections.
    public var plainListener = true
    /// Set for `veil relay`: secret, limits and the relay's own certificate home.
    public var relayServer: RelayServerSettings? = nil

    public init() {}

    /// Whether connections to `target` are intercepted.
    public func intercepts(_ target: HostPort) -> Bool {
        mode == .intercept && !passthroughHosts.contains { $0.matches(target) }
    }

    /// The SNI policy for `target`.
    public func sniPolicy(for target: HostPort) -> SNIPolicy {
        sniRules.first { $0.pattern.matches(target) }?.policy ?? sniPolicy
    }

    /// The ECH policy for `target`.
    public func echMode(for target: HostPort) -> ECHMode {
        echRules.first { $0.pattern.matches(target) }?.policy ?? ech
    }

    /// Whether `ech require` applies anywhere (the default or a rule).
    public var requiresECH: Bool { ech == .require || echRules.contains { $0.policy == .require } }

    /// The route for `target`.
    public func route(for target: HostPort) -> Route {
        routeRules.first { $0.pattern.matches(target) }?.route ?? route
    }

    /// Whether any target may be tunnelled through the relay.
    public var usesRelay: Bool { route == .tunnel || routeRules.contains { $0.route == .tunnel } }

    /// `~/.veil` (`~/.veil-relay` for `veil relay`).
    static func defaultHome(_ directory: String = ".veil") -> String {
        (getenv("HOME").map { String(cString: $0) } ?? "/root") + "/" + directory
    }
}
