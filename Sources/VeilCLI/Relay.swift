import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `veil relay`: the companion server meant to run outside the observed network. A TLS listener
/// (self-signed certificate generated on first run under --home; clients pin its SHA-256
/// fingerprint), CONNECT tunnels for clients with the shared secret, limits on ports, private
/// targets and connections per client. Built on the same proxy core in pass-through mode.
struct Relay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Veil relay: CONNECT tunnels over TLS for veil run --route tunnel.")

    @Option(help: "Address of the relay's TLS listener (IP:PORT, [IPv6]:PORT or localhost:PORT); a non-loopback one is meant for the internet and gets a note.")
    var listen: String = "127.0.0.1:8443"
    @Option(help: "Directory of the relay's certificate and key (default ~/.veil-relay; created 0700).")
    var home: String?
    @Option(help: "Shared secret clients must send (also VEIL_SECRET; prefer --secret-file). Without one, the one in HOME/relay-secret is used, generated there (0600) on first run.")
    var secret: String?
    @Option(help: "File whose first line is the shared secret.")
    var secretFile: String?
    @Option(help: "Target ports allowed, e.g. 443 or 443,8443 or 8000-9000; repeatable (default 443).")
    var allowPort: [String] = []
    @Flag(help: "Allow targets in loopback, private and link-local ranges (refused by default).")
    var allowPrivate = false
    @Option(help: "Connections open at once per client address.")
    var maxPerClient: Int = 64
    @Option(help: "Wrong secrets from one address within 60 s before it is refused (429) for --auth-block seconds.")
    var authFailures: Int = 5
    @Option(help: "Seconds an address is refused after too many wrong secrets.")
    var authBlock: Double = 60
    @Option(help: "Who answers target names here: system (the relay runs outside the observed network), doh, dot, doh,dot or static.")
    var resolver: String = "system"
    @Option(help: "Static name mapping HOST:PORT:ADDR[,ADDR]; repeatable.")
    var resolve: [String] = []
    @Option(help: "DoH server URL; repeatable.")
    var dohUrl: [String] = []
    @Option(help: "DoT server IP[:PORT][#NAME]; repeatable.")
    var dotServer: [String] = []
    @Option(help: "Worker threads (default: one per core).")
    var workers: String?
    @Option(help: "off | summary | records.")
    var recordLog: String?
    @Option(help: "text | json.")
    var logFormat: String?
    @Option(help: "Write summary lines to this file (created 0600) instead of stderr.")
    var recordLogFile: String?
    @Option(help: "Seconds to resolve and connect to a target (default 10).")
    var connectTimeout: String?
    @Option(help: "Seconds without data either way before a tunnel closes (default 300).")
    var idleTimeout: String?
    @Option(help: "Connections open at once across workers (default 4096).")
    var maxConnections: String?

    /// Value errors come with `veil relay`'s usage (see `Run.validate`); nothing is created here.
    func validate() throws {
        _ = try proxyConfiguration()
        _ = try allowedPorts()
        guard maxPerClient >= 1 else { throw ValidationError("--max-per-client must be at least 1") }
        guard authFailures >= 1 else { throw ValidationError("--auth-failures must be at least 1") }
        if let secretFile {
            do { _ = try SecretFile.read(secretFile) } catch { throw ValidationError("\(error)") }
        }
        if let secret, secret.isEmpty { throw ValidationError("--secret is empty") }
    }

    func run() throws {
        MallocTuning.apply()
        let environment = Environment.current()
        var configuration = try proxyConfiguration()
        let log = ProcessLog(format: configuration.logFormat)
        if SecretArgument.scrub("--secret") {
            log.say("veil relay: \(SecretArgument.warning(flag: "--secret", instead: "--secret-file FILE or VEIL_SECRET"))")
        }
        let secret = try sharedSecret(environment, home: configuration.home, log: log)
        if let problem = SecretFile.problem(with: secret) { throw ValidationError("secret: \(problem)") }
        var settings = RelayServerSettings(secret: secret)
        if let ports = try allowedPorts() { settings.allowedPorts = ports }
        settings.allowPrivate = allowPrivate
        settings.maxPerClient = maxPerClient
        settings.authFailureLimit = authFailures
        settings.authBlock = max(0, authBlock)
        configuration.relayServer = settings
        do {
            try ProxyServer(config: configuration).run()
        } catch {
            log.say("veil relay: error: cannot start: \(error)")
            throw ExitCode(1)
        }
    }

    /// The proxy core's settings for a relay: a TLS listener only, pass-through, private ranges
    /// denied unless --allow-private.
    private func proxyConfiguration() throws -> ProxyConfiguration {
        let environment = Environment.current()
        var flags: [(String, String?)] = [
            ("listen-tls", listen), ("mode", "passthrough"), ("allow-sni-mismatch", "true"),
            ("home", home ?? ((environment["HOME"] ?? "/root") + "/.veil-relay")), ("resolver", resolver),
        ]
        for r in resolve { flags.append(("resolve", r)) }
        for u in dohUrl { flags.append(("doh-url", u)) }
        for d in dotServer { flags.append(("dot-server", d)) }
        for (k, v) in [("workers", workers), ("record-log", recordLog), ("log-format", logFormat),
                       ("record-log-file", recordLogFile), ("connect-timeout", connectTimeout),
                       ("idle-timeout", idleTimeout), ("max-connections", maxConnections)] {
            if let v { flags.append((k, v)) }
        }
        if !allowPrivate {
            for range in RelayServerSettings.privateRanges { flags.append(("deny", range)) }
        }
        var builder = ConfigurationBuilder()
        var configuration: ProxyConfiguration
        do {
            // The relay takes only its own flags: VEIL_* settings meant for veil run do not apply.
            for (k, v) in flags { try builder.apply(key: k, value: v, origin: "--\(k)") }
            configuration = try builder.build()
        } catch {
            throw ValidationError(error.description)
        }
        configuration.plainListener = false
        return configuration
    }

    /// --allow-port values, or nil for the default (443).
    private func allowedPorts() throws -> [ClosedRange<UInt16>]? {
        guard !allowPort.isEmpty else { return nil }
        var ports: [ClosedRange<UInt16>] = []
        for p in allowPort {
            guard let parsed = RelayServerSettings.parsePorts(p) else {
                throw ValidationError("--allow-port '\(p)' is not a port, a list (443,8443) or a range (8000-9000)")
            }
            ports += parsed
        }
        return ports
    }

    /// --secret-file, --secret, VEIL_SECRET, or the one in HOME/relay-secret (generated there,
    /// 0600, on first use; its path is printed, never the secret).
    private func sharedSecret(_ environment: [String: String], home: String, log: ProcessLog) throws -> String {
        if let secretFile {
            do { return try SecretFile.read(secretFile) } catch { throw ValidationError("\(error)") }
        }
        if let secret {
            guard !secret.isEmpty else { throw ValidationError("--secret is empty") }
            return secret
        }
        if let s = environment["VEIL_SECRET"], !s.isEmpty { return s }
        let path = home + "/relay-secret"
        if let existing = try? SecretFile.read(path) {
            log.say("veil relay: no secret given; using the one in \(path)")
            return existing
        }
        do {
            let generated = try SecretFile.generate(into: path)
            log.say("veil relay: no secret given; generated one in \(path) (mode 0600; give clients a copy: --relay-secret-file FILE)")
            return generated
        } catch {
            log.say("veil relay: error: \(error)")
            throw ExitCode(1)
        }
    }
}
