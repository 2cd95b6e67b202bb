import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `veil run`: parse settings into a `ProxyConfiguration` and start the proxy.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")

    @Option(help: "Address to accept CONNECT on: IP:PORT, [IPv6]:PORT or localhost:PORT (= 127.0.0.1); default 127.0.0.1:8080.")
    var listen: String?
    @Option(help: "Address of the HTTPS proxy listener, as for --listen (clients speak TLS to Veil: curl -x https://...); off by default.")
    var listenTls: String?
    @Option(help: "Name in the HTTPS listener's certificate (default: the listen IP address, or localhost for localhost:PORT).")
    var listenTlsName: String?
    @Option(help: "Config file (default: $VEIL_CONFIG when set). Flags override it.")
    var config: String?
    @Option(help: "intercept (terminate TLS with Veil's CA; default) or passthrough (relay TLS untouched).")
    var mode: String?
    @Option(help: "Host pattern relayed untouched even in intercept mode; repeatable.")
    var passthrough: [String] = []
    @Option(help: "Directory of Veil's CA (default ~/.veil; also VEIL_HOME).")
    var home: String?
    @Option(help: "PEM file of extra trust anchors for upstream certificates.")
    var upstreamCA: String?
    @Flag(inversion: .prefixedNo, help: "Do not verify upstream certificates (dangerous; logged loudly).")
    var insecureUpstream: Bool?
    @Option(help: "Upstream server_name: real, omit or cover:NAME (default real).")
    var sni: String?
    @Option(help: "Per-host SNI policy PATTERN=POLICY, e.g. '*.example.com=omit'; repeatable.")
    var sniRule: [String] = []
    @Option(help: "Append NSS key log lines for both legs to this file (created 0600); SSLKEYLOGFILE does the same.")
    var keylog: String?
    @Option(help: "Oldest TLS version offered upstream: 1.2 or 1.3 (default 1.2).")
    var upstreamMinTls: String?
    @Option(help: "Key exchange groups offered upstream (default X25519:P-256:P-384).")
    var upstreamGroups: String?
    @Option(help: "Kernel TLS for intercepted data: auto (default), off, or require.")
    var ktls: String?
    @Option(help: "Who seals and opens intercepted records in userspace after the handshakes: veil (default) or openssl.")
    var recordLayer: String?
    @Option(help: "Static name mapping HOST:PORT:ADDR[,ADDR] (curl's syntax); repeatable.")
    var resolve: [String] = []
    @Option(help: "Who answers names not in the static map, in order: doh (default), dot, relay, or a list such as doh,dot or relay,doh; static (--resolve only) or system (plain DNS, visible on the network).")
    var resolver: String?
    @Option(help: "DoH server URL https://IP[:PORT]/PATH (default \(ProxyConfiguration.defaultDoHURL)); repeatable.")
    var dohUrl: [String] = []
    @Option(help: "DoT server IP[:PORT][#NAME] (default \(ProxyConfiguration.defaultDoTServer)); repeatable.")
    var dotServer: [String] = []
    @Option(help: "PEM file of extra trust anchors for DoH/DoT server certificates.")
    var resolverCa: String?
    @Option(help: "Seconds one DoH/DoT server gets to answer before the next is tried (default 5).")
    var resolverTimeout: String?
    @Option(help: "Shortest time an answer is cached, seconds (default 60).")
    var dnsMinTtl: String?
    @Option(help: "Longest time an answer is cached, seconds (default 3600).")
    var dnsMaxTtl: String?
    @Option(help: "Longest time 'no such name' is cached, seconds (default 60).")
    var dnsNegativeTtl: String?
    @Option(help: "off | summary | records.")
    var recordLog: String?
    @Option(help: "text | json.")
    var logFormat: String?
    @Option(help: "Write record and summary lines to this file (created mode 0600) instead of stderr.")
    var recordLogFile: String?
    @Flag(inversion: .prefixedNo, help: "Send the ClientHello upstream as two TLS records split inside the server name.")
    var splitHello: Bool?
    @Option(help: "Allow rule PATTERN[:PORTS] (e.g. '*.example.com:443'); repeatable. With any, others get 403.")
    var allow: [String] = []
    @Option(help: "Deny rule PATTERN[:PORTS]; repeatable; checked before allow rules.")
    var deny: [String] = []
    @Flag(inversion: .prefixedNo, help: "Accept a ClientHello whose SNI differs from the CONNECT host.")
    var allowSNIMismatch: Bool?
    @Option(help: "USER:PASSWORD who may use the proxy (Proxy-Authorization: Basic); repeatable; prefer --auth-file.")
    var auth: [String] = []
    @Option(help: "htpasswd-style file of users who may use the proxy (USER:HASH; bcrypt or SHA-256/512-crypt).")
    var authFile: String?
    @Flag(inversion: .prefixedNo, help: "Let a listener beyond loopback serve without --auth or --auth-file.")
    var allowOpenProxy: Bool?
    @Option(help: "ADDR:PORT to serve GET /metrics (Prometheus) and GET /healthz on (off by default).")
    var metrics: String?
    @Option(help: "Worker threads, one io_uring each (default: one per core).")
    var workers: String?
    @Option(help: "Connections open at once (default 4096).")
    var maxConnections: String?
    @Option(help: "Largest CONNECT request head in bytes (default 8192).")
    var maxHeaderBytes: String?
    @Option(help: "Seconds to resolve and connect upstream (default 10).")
    var connectTimeout: String?
    @Option(help: "Seconds for the client to send its CONNECT request (default 10).")
    var headerTimeout: String?
    @Option(help: "Seconds for the TLS handshake after CONNECT (default 15).")
    var handshakeTimeout: String?
    @Option(help: "Seconds without data either way before a tunnel closes (default 300).")
    var idleTimeout: String?
    @Option(help: "Seconds live connections get after SIGINT/SIGTERM (default 10).")
    var grace: String?
    @Option(help: "Largest splice pipe in bytes; pipes start at 64 KiB and grow while full (default 1048576; 0 = stay at 64 KiB).")
    var pipeSize: String?

    @Option(help: "How targets are reached: direct (default) or tunnel (inside TLS to the Veil relay).")
    var route: String?
    @Option(help: "Per-host route PATTERN=direct|tunnel, e.g. '*.example.com=tunnel'; repeatable, first match wins.")
    var routeRule: [String] = []
    @Option(help: "The Veil relay IP:PORT for tunnelled targets.")
    var relay: String?
    @Option(help: "SHA-256 fingerprint of the relay's certificate, as veil relay prints it (colons optional).")
    var relayFingerprint: String?
    @Option(help: "The relay's shared secret (also VEIL_RELAY_SECRET; prefer --relay-secret-file).")
    var relaySecret: String?
    @Option(help: "File whose first line is the relay's shared secret.")
    var relaySecretFile: String?

    /// The flags given, as the builder's `key value` pairs.
    private var flagSettings: [(String, String?)] {
        var s: [(String, String?)] = []
        func add(_ k: String, _ v: String?) { if let v { s.append((k, v)) } }
        add("listen", listen)
        add("listen-tls", listenTls)
        add("listen-tls-name", listenTlsName)
        add("mode", mode)
        for p in passthrough { s.append(("passthrough", p)) }
        add("home", home)
        add("upstream-ca", upstreamCA)
        add("insecure-upstream", insecureUpstream.map { String($0) })
        add("sni", sni)
        for r in sniRule { s.append(("sni-rule", r)) }
        add("keylog", keylog)
        add("upstream-min-tls", upstreamMinTls)
        add("upstream-groups", upstreamGroups)
        add("ktls", ktls)
        add("record-layer", recordLayer)
        for r in resolve { s.append(("resolve", r)) }
        add("resolver", resolver)
        for u in dohUrl { s.append(("doh-url", u)) }
        for d in dotServer { s.append(("dot-server", d)) }
        add("resolver-ca", resolverCa)
        add("resolver-timeout", resolverTimeout)
        add("dns-min-ttl", dnsMinTtl)
        add("dns-max-ttl", dnsMaxTtl)
        add("dns-negative-ttl", dnsNegativeTtl)
        add("record-log", recordLog)
        add("log-format", logFormat)
        add("record-log-file", recordLogFile)
        add("split-hello", splitHello.map { String($0) })
        for a in allow { s.append(("allow", a)) }
        for d in deny { s.append(("deny", d)) }
        add("allow-sni-mismatch", allowSNIMismatch.map { String($0) })
        for a in auth { s.append(("auth", a)) }
        add("auth-file", authFile)
        add("allow-open-proxy", allowOpenProxy.map { String($0) })
        add("metrics", metrics)
        add("workers", workers)
        add("max-connections", maxConnections)
        add("max-header-bytes", maxHeaderBytes)
        add("connect-timeout", connectTimeout)
        add("header-timeout", headerTimeout)
        add("handshake-timeout", handshakeTimeout)
        add("idle-timeout", idleTimeout)
        add("grace", grace)
        add("pipe-size", pipeSize)
        add("route", route)
        for r in routeRule { s.append(("route-rule", r)) }
        add("relay", relay)
        add("relay-fingerprint", relayFingerprint)
        add("relay-secret", relaySecret)
        add("relay-secret-file", relaySecretFile)
        return s
    }

    /// Value errors (flags, environment, config file) are found here rather than in `run`: an
    /// error thrown from `validate` comes with `veil run`'s usage, one thrown from `run` with the
    /// top-level one.
    func validate() throws {
        _ = try Settings.build(configPath: config, flags: flagSettings)
    }

    func run() throws {
        MallocTuning.apply()
        let configuration = try Settings.build(configPath: config, flags: flagSettings)
        let log = ProcessLog(format: configuration.logFormat)
        if SecretArgument.scrub("--auth") {
            log.say("veil: \(SecretArgument.warning(flag: "--auth", instead: "--auth-file FILE or VEIL_AUTH"))")
        }
        if SecretArgument.scrub("--relay-secret") {
            log.say("veil: \(SecretArgument.warning(flag: "--relay-secret", instead: "--relay-secret-file FILE or VEIL_RELAY_SECRET"))")
        }
        do {
            try ProxyServer(config: configuration).run()
        } catch {
            log.say("veil: error: cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}

/// Settings from the config file (`--config` or VEIL_CONFIG), the environment and flags, in that
/// order, through the one `ConfigurationBuilder`.
enum Settings {
    static func build(configPath: String?, flags: [(String, String?)]) throws -> ProxyConfiguration {
        var builder = ConfigurationBuilder()
        let environment = Environment.current()
        if let path = configPath ?? environment["VEIL_CONFIG"] {
            let file: ConfigFile
            do {
                file = try ConfigFile(text: try readFile(path), path: path)
            } catch {
                throw ValidationError("\(error)")
            }
            do { try builder.apply(file: file) } catch { throw ValidationError(error.description) }
        }
        do {
            try builder.apply(environment: environment)
            for (k, v) in flags { try builder.apply(key: k, value: v, origin: "--\(k)") }
            return try builder.build()
        } catch {
            throw ValidationError(error.description)
        }
    }
}

private func readFile(_ path: String) throws -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ValidationError("cannot read config file \(path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n < 0 { throw ValidationError("cannot read config file \(path): \(String(cString: strerror(errno)))") }
        if n == 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
        if bytes.count > 1 << 20 { throw ValidationError("config file \(path) is larger than 1 MiB") }
    }
    return String(decoding: bytes, as: UTF8.self)
}

enum Environment {
    static func current() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
            p += 1
        }
        return env
    }
}

enum FileHandleStderr {
    static func write(_ s: String) {
        _ = s.withCString { Glibc.write(2, $0, strlen($0)) }
    }
}
