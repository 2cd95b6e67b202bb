import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// The one place that knows every setting. The config file, the environment (`VEIL_<KEY>`, with
/// dashes as underscores) and CLI flags all arrive here as `key value` pairs, applied in that
/// order so flags win. Keys are the long flag names without `--`.
public struct ConfigurationBuilder {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// Every key, with its help text (also shown in `conf/veil.conf`).
    public static let keys: [(key: String, repeatable: Bool, help: String)] = [
        ("listen", false, "IP:PORT, [IPv6]:PORT or localhost:PORT (= 127.0.0.1) to accept CONNECT on (default 127.0.0.1:8080)"),
        ("listen-tls", false, "address:port of the HTTPS proxy listener: clients speak TLS to Veil itself (curl -x https://...); off by default"),
        ("listen-tls-name", false, "name in the HTTPS listener's certificate, minted by Veil's CA (default: the listen IP address, or localhost for localhost:PORT)"),
        ("mode", false, "intercept (terminate TLS with Veil's CA; default) or passthrough (relay TLS untouched)"),
        ("passthrough", true, "PATTERN[:PORTS] hosts relayed untouched even in intercept mode"),
        ("home", false, "directory of Veil's CA (default ~/.veil; created 0700)"),
        ("upstream-ca", false, "PEM file of extra trust anchors for upstream certificates (on top of the system store)"),
        ("insecure-upstream", false, "do not verify upstream certificates (dangerous; logged loudly)"),
        ("sni", false, "what the upstream ClientHello's server_name carries: real, omit or cover:NAME"),
        ("sni-rule", true, "PATTERN=POLICY per-host SNI policy, e.g. '*.example.com=omit'; first match wins"),
        ("keylog", false, "append NSS key log lines for both legs to FILE (created 0600); SSLKEYLOGFILE does the same"),
        ("upstream-min-tls", false, "oldest TLS version offered upstream: 1.2 or 1.3 (default 1.2)"),
        ("upstream-groups", false, "key exchange groups offered upstream (default X25519:P-256:P-384)"),
        ("ktls", false, "kernel TLS for intercepted data: auto (where available; default), off, or require (refuse without it)"),
        ("record-layer", false, "who seals and opens intercepted records in userspace after the handshakes: veil (its own AEAD record layer, no copies; default) or openssl (SSL_read/SSL_write)"),
        ("resolve", true, "HOST:PORT:ADDR[,ADDR] static name mapping, curl's syntax"),
        ("resolver", false, "who answers names not in the static map, in order: doh, dot, relay (the Veil relay, over its pinned TLS: needs relay, relay-fingerprint and the secret), any list of these such as relay,doh (encrypted; default doh), static (--resolve entries only) or system (getaddrinfo: plain DNS, visible on the network)"),
        ("doh-url", true, "DoH server URL https://IP[:PORT]/PATH (default \(ProxyConfiguration.defaultDoHURL)); a host name must be in the static map"),
        ("dot-server", true, "DoT server IP[:PORT][#NAME] (default \(ProxyConfiguration.defaultDoTServer)); NAME is what its certificate must name, else the IP"),
        ("resolver-ca", false, "PEM file of extra trust anchors for DoH/DoT server certificates (on top of the system store)"),
        ("resolver-timeout", false, "seconds one DoH/DoT server gets to answer before the next is tried (default 5)"),
        ("dns-min-ttl", false, "shortest time an answer is cached, seconds (default 60)"),
        ("dns-max-ttl", false, "longest time an answer is cached, seconds (default 3600)"),
        ("dns-negative-ttl", false, "longest time 'no such name' is cached, seconds (default 60; 0: not cached)"),
        ("record-log", false, "off | summary | records"),
        ("log-format", false, "text | json"),
        ("record-log-file", false, "write record and summary lines to FILE (mode 0600) instead of stderr"),
        ("split-hello", false, "send the ClientHello upstream as two TLS records split inside the server name"),
        ("allow", true, "PATTERN[:PORTS] targets allowed; when any allow rule exists, others are refused (403)"),
        ("deny", true, "PATTERN[:PORTS] targets refused (403); checked before allow"),
        ("allow-sni-mismatch", false, "accept a ClientHello whose SNI differs from the CONNECT host"),
        ("auth", true, "USER:PASSWORD a user who may use the proxy (Proxy-Authorization: Basic); prefer auth-file (a flag is readable by local users until Veil blanks it)"),
        ("auth-file", false, "htpasswd-style FILE of users who may use the proxy: USER:HASH lines (bcrypt htpasswd -B, or SHA-256/512-crypt)"),
        ("metrics", false, "ADDR:PORT to serve GET /metrics (Prometheus text format) and GET /healthz on (off by default; keep it on loopback)"),
        ("allow-open-proxy", false, "let a listener beyond loopback serve without auth or auth-file (anyone who reaches it can use the proxy)"),
        ("workers", false, "worker threads, one io_uring each (default: one per core)"),
        ("max-connections", false, "connections open at once across workers (default 4096)"),
        ("max-header-bytes", false, "largest CONNECT request head (default 8192)"),
        ("connect-timeout", false, "seconds to resolve and connect upstream (default 10)"),
        ("header-timeout", false, "seconds for the client to send its CONNECT request (default 10)"),
        ("handshake-timeout", false, "seconds for the TLS handshake after CONNECT (default 15)"),
        ("idle-timeout", false, "seconds without data either way before a tunnel is closed (default 300)"),
        ("grace", false, "seconds live connections get to finish after SIGINT/SIGTERM (default 10)"),
        ("route", false, "how targets are reached: direct (default) or tunnel (inside TLS to the Veil relay: the local network sees only the relay)"),
        ("route-rule", true, "PATTERN=direct|tunnel per-host route, e.g. '*.example.com=tunnel'; first match wins over route"),
        ("relay", false, "the Veil relay IP:PORT for tunnelled targets (an IP address, so finding the relay leaks nothing)"),
        ("relay-fingerprint", false, "SHA-256 fingerprint of the relay's certificate, as veil relay prints it (colons optional); the relay is pinned, no CA"),
        ("relay-secret", false, "the relay's shared secret (also VEIL_RELAY_SECRET); prefer relay-secret-file"),
        ("relay-secret-file", false, "file whose first line is the relay's shared secret"),
        ("pipe-size", false, "largest splice pipe in bytes; pipes start at 64 KiB and grow while full (default 1048576; 0 = stay at 64 KiB)"),
    ]

    public private(set) var config = ProxyConfiguration()
    private var allow: [String] = []
    private var deny: [String] = []
    private var relayAddress: SocketAddress?
    private var relayFingerprint: RelayFingerprint?
    private var relaySecret: String?
    /// `listen-tls` was given as `localhost:PORT`: the certificate names localhost by default.
    private var listenTLSByName = false

    public init() {
        config.workers = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }

    public static func isKnown(_ key: String) -> Bool { keys.contains { $0.key == key } }

    /// Applies the settings of a config file.
    public mutating func apply(file: ConfigFile) throws(Error) {
        for e in file.entries {
            try apply(key: e.key, value: e.value, origin: "\(file.path):\(e.line)")
        }
    }

    /// Applies `VEIL_<KEY>` variables from `environment` (and SSLKEYLOGFILE as `keylog`).
    public mutating func apply(environment: [String: String]) throws(Error) {
        if let file = environment["SSLKEYLOGFILE"], !file.isEmpty {
            try apply(key: "keylog", value: file, origin: "environment SSLKEYLOGFILE")
        }
        if let secret = environment["VEIL_RELAY_SECRET"], !secret.isEmpty {
            try apply(key: "relay-secret", value: secret, origin: "environment VEIL_RELAY_SECRET")
        }
        for (key, _, _) in ConfigurationBuilder.keys where key != "relay-secret" {
            let name = "VEIL_" + String(key.uppercased().map { $0 == "-" ? "_" : $0 })
            if let value = environment[name] {
                try apply(key: key, value: value, origin: "environment \(name)")
            }
        }
    }

    /// Applies one setting. `value == nil` means a bare boolean key (true).
    public mutating func apply(key: String, value: String?, origin: String) throws(Error) {
        func need() throws(Error) -> String {
            guard let value, !value.isEmpty else { throw Error("\(origin): '\(key)' needs a value") }
            return value
        }
        func bool() throws(Error) -> Bool {
            guard let value else { return true }
            switch value.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw Error("\(origin): '\(key)' takes true or false, not '\(value)'")
            }
        }
        func seconds() throws(Error) -> Double {
            let v = try need()
            guard let d = Double(v), d >= 0, d.isFinite else { throw Error("\(origin): '\(key)' takes seconds, not '\(v)'") }
            return d
        }
        func count(min: Int, max: Int) throws(Error) -> Int {
            let v = try need()
            guard let n = Int(v), n >= min, n <= max else { throw Error("\(origin): '\(key)' takes a number from \(min) to \(max), not '\(v)'") }
            return n
        }
        func address() throws(Error) -> SocketAddress {
            let v = try need()
            guard let a = SocketAddress(parsing: v) else {
                throw Error("\(origin): \(key) address '\(v)' is not IP:PORT or [IPv6]:PORT")
            }
            return a
        }
        switch key {
        case "listen":
            switch ListenAddress.parse(try need(), what: "listen") {
            case .success(let p): config.listen = p.address
            case .failure(let e): throw Error("\(origin): \(e)")
            }
        case "listen-tls":
            switch ListenAddress.parse(try need(), what: "listen-tls") {
            case .success(let p):
                config.listenTLS = p.address
                listenTLSByName = p.byName
            case .failure(let e): throw Error("\(origin): \(e)")
            }
        case "listen-tls-name": config.listenTLSName = try need()
        case "mode":
            let v = try need()
            guard let m = ProxyMode(rawValue: v) else {
                throw Error("\(origin): mode '\(v)' is not one of \(ProxyMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.mode = m
        case "passthrough":
            let v = try need()
            do { config.passthroughHosts.append(try HostPattern(parsing: v)) } catch { throw Error("\(origin): \(error)") }
        case "home": config.home = try need()
        case "upstream-ca": config.upstreamCAFile = try need()
        case "insecure-upstream": config.insecureUpstream = try bool()
        case "sni":
            let v = try need()
            guard let p = SNIPolicy(parsing: v) else { throw Error("\(origin): sni '\(v)' is not real, omit or cover:NAME") }
            config.sniPolicy = p
        case "sni-rule":
            let v = try need()
            guard let eq = v.lastIndex(of: "="), let p = SNIPolicy(parsing: String(v[v.index(after: eq)...])) else {
                throw Error("\(origin): sni-rule '\(v)' is not PATTERN=real|omit|cover:NAME")
            }
            do { config.sniRules.append((try HostPattern(parsing: v[..<eq]), p)) } catch { throw Error("\(origin): \(error)") }
        case "keylog": config.keylogFile = try need()
        case "upstream-min-tls":
            switch try need() {
            case "1.2": config.upstreamMinVersion = 0x0303
            case "1.3": config.upstreamMinVersion = 0x0304
            case let v: throw Error("\(origin): upstream-min-tls '\(v)' is not 1.2 or 1.3")
            }
        case "upstream-groups": config.upstreamGroups = try need()
        case "ktls":
            let v = try need()
            guard let m = KTLSMode(rawValue: v) else { throw Error("\(origin): ktls '\(v)' is not one of auto, off, require") }
            config.ktls = m
        case "record-layer":
            let v = try need()
            guard let m = RecordLayerMode(rawValue: v) else { throw Error("\(origin): record-layer '\(v)' is not veil or openssl") }
            config.recordLayer = m
        case "resolve":
            let v = try need()
            do { config.staticResolve.append(try StaticResolveEntry(parsing: v)) } catch { throw Error("\(origin): \(error)") }
        case "resolver":
            let v = try need()
            if v == "static" { config.resolvers = []; break }
            var kinds: [ResolverKind] = []
            for part in v.split(separator: ",") {
                guard let k = ResolverKind(rawValue: String(part)) else {
                    throw Error("\(origin): resolver '\(part)' is not one of static, system, doh, dot, relay")
                }
                if !kinds.contains(k) { kinds.append(k) }
            }
            if kinds.contains(.system) && kinds.count > 1 {
                throw Error("\(origin): resolver 'system' cannot be combined with doh/dot/relay: a failure would fall back to plain DNS")
            }
            guard !kinds.isEmpty else { throw Error("\(origin): resolver needs a value") }
            config.resolvers = kinds
        case "doh-url": config.dohURLs.append(try need())
        case "dot-server": config.dotServers.append(try need())
        case "resolver-ca": config.resolverCAFile = try need()
        case "resolver-timeout":
            let t = try seconds()
            guard t > 0 else { throw Error("\(origin): resolver-timeout must be more than 0") }
            config.resolverTimeout = t
        case "dns-min-ttl": config.dnsMinTTL = UInt32(try count(min: 0, max: 86_400))
        case "dns-max-ttl": config.dnsMaxTTL = UInt32(try count(min: 1, max: 604_800))
        case "dns-negative-ttl": config.dnsNegativeTTL = UInt32(try count(min: 0, max: 86_400))
        case "record-log":
            let v = try need()
            guard let l = RecordLogLevel(rawValue: v) else { throw Error("\(origin): record-log '\(v)' is not one of off, summary, records") }
            config.recordLog = l
        case "log-format":
            let v = try need()
            guard let f = LogFormat(rawValue: v) else { throw Error("\(origin): log-format '\(v)' is not one of text, json") }
            config.logFormat = f
        case "record-log-file": config.recordLogFile = try need()
        case "split-hello": config.splitHello = try bool()
        case "allow": allow.append(try need())
        case "deny": deny.append(try need())
        case "allow-sni-mismatch": config.allowSNIMismatch = try bool()
        case "workers": config.workers = try count(min: 1, max: 256)
        case "max-connections": config.maxConnections = try count(min: 1, max: 1_000_000)
        case "max-header-bytes": config.maxHeaderBytes = try count(min: 256, max: 16384)
        case "connect-timeout": config.connectTimeout = try seconds()
        case "header-timeout": config.headerTimeout = try seconds()
        case "handshake-timeout": config.handshakeTimeout = try seconds()
        case "idle-timeout": config.idleTimeout = try seconds()
        case "grace": config.grace = try seconds()
        case "pipe-size": config.pipeSize = try count(min: 0, max: 1 << 20)
        case "route":
            let v = try need()
            guard let r = Route(rawValue: v) else { throw Error("\(origin): route '\(v)' is not direct or tunnel") }
            config.route = r
        case "route-rule":
            let v = try need()
            guard let eq = v.lastIndex(of: "="), let r = Route(rawValue: String(v[v.index(after: eq)...])) else {
                throw Error("\(origin): route-rule '\(v)' is not PATTERN=direct|tunnel")
            }
            do { config.routeRules.append((try HostPattern(parsing: v[..<eq]), r)) } catch { throw Error("\(origin): \(error)") }
        case "relay":
            let v = try need()
            guard let a = SocketAddress(parsing: v) else {
                throw Error("\(origin): relay '\(v)' is not IP:PORT or [IPv6]:PORT (an address, so that finding the relay leaks nothing)")
            }
            relayAddress = a
        case "relay-fingerprint":
            let v = try need()
            guard let f = RelayFingerprint(parsing: v) else {
                throw Error("\(origin): relay-fingerprint is not 64 hex digits (colons optional), as veil relay prints it")
            }
            relayFingerprint = f
        case "auth":
            do { try config.users.add(entry: try need(), origin: origin) } catch let e as ProxyUsers.Error {
                throw Error(e.description)
            } catch { throw Error("\(origin): \(error)") }
        case "auth-file":
            do { try config.users.add(file: try need()) } catch let e as ProxyUsers.Error {
                throw Error("\(origin): \(e.description)")
            } catch { throw Error("\(origin): \(error)") }
        case "allow-open-proxy": config.allowOpenProxy = try bool()
        case "metrics": config.metrics = try address()
        case "relay-secret": relaySecret = try need()
        case "relay-secret-file":
            do { relaySecret = try SecretFile.read(try need()) } catch let e as SecretFile.Error {
                throw Error("\(origin): \(e)")
            } catch { throw Error("\(origin): \(error)") }
        default:
            throw Error("\(origin): unknown setting '\(key)'")
        }
    }

    /// The finished configuration (rules compiled).
    public func build() throws(Error) -> ProxyConfiguration {
        var c = config
        if listenTLSByName && c.listenTLSName == nil { c.listenTLSName = "localhost" }
        do {
            c.rules = try AccessRules(allow: allow, deny: deny)
        } catch {
            throw Error("\(error)")
        }
        if c.usesRelay || c.resolvers.contains(.relay) {
            let who = c.usesRelay ? "route tunnel" : "resolver relay"
            guard let relayAddress else { throw Error("\(who) needs relay IP:PORT") }
            guard let relayFingerprint else {
                throw Error("\(who) needs relay-fingerprint (veil relay prints it at start-up)")
            }
            guard let relaySecret else {
                throw Error("\(who) needs the relay's secret: relay-secret-file, relay-secret or VEIL_RELAY_SECRET")
            }
            if let problem = SecretFile.problem(with: relaySecret) { throw Error("relay secret: \(problem)") }
            c.relay = RelayEndpoint(address: relayAddress, fingerprint: relayFingerprint, secret: relaySecret)
        }
        return c
    }
}
