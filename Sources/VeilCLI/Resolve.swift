import VeilResolver
import VeilWire
import ArgumentParser
import Dispatch
import Synchronization
import VeilProxy

/// `veil resolve NAME...`: what the configured resolver chain answers, and which resolver
/// answered. A name given twice shows the second answer coming from the cache.
struct Resolve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve names with the configured resolvers (static map, DoH/DoT or system) and say which answered.")

    @Argument(help: "Names to resolve, in order (repeat one to see the cache answer).")
    var names: [String]
    @Option(help: "Config file (default: $VEIL_CONFIG when set). Flags override it.")
    var config: String?
    @Option(help: "doh, dot, relay, lists such as relay,doh, static or system (as for veil run).")
    var resolver: String?
    @Option(help: "DoH server URL; repeatable.")
    var dohUrl: [String] = []
    @Option(help: "DoT server IP[:PORT][#NAME]; repeatable.")
    var dotServer: [String] = []
    @Option(help: "PEM file of extra trust anchors for DoH/DoT server certificates.")
    var resolverCa: String?
    @Option(help: "Seconds one server gets to answer.")
    var resolverTimeout: String?
    @Option(help: "Static name mapping HOST:PORT:ADDR[,ADDR]; repeatable.")
    var resolve: [String] = []
    @Option(help: "The Veil relay IP:PORT (for --resolver relay).")
    var relay: String?
    @Option(help: "SHA-256 fingerprint of the relay's certificate, as veil relay prints it.")
    var relayFingerprint: String?
    @Option(help: "The relay's shared secret (also VEIL_RELAY_SECRET; prefer --relay-secret-file).")
    var relaySecret: String?
    @Option(help: "File whose first line is the relay's shared secret.")
    var relaySecretFile: String?
    @Option(help: "Port the answers are for (static map entries are per port).")
    var port: UInt16 = 443

    /// The flags given, as the builder's `key value` pairs.
    private var flagSettings: [(String, String?)] {
        var flags: [(String, String?)] = []
        if let resolver { flags.append(("resolver", resolver)) }
        for u in dohUrl { flags.append(("doh-url", u)) }
        for d in dotServer { flags.append(("dot-server", d)) }
        if let resolverCa { flags.append(("resolver-ca", resolverCa)) }
        if let resolverTimeout { flags.append(("resolver-timeout", resolverTimeout)) }
        for r in resolve { flags.append(("resolve", r)) }
        for (k, v) in [("relay", relay), ("relay-fingerprint", relayFingerprint), ("relay-secret", relaySecret),
                       ("relay-secret-file", relaySecretFile)] {
            if let v { flags.append((k, v)) }
        }
        return flags
    }

    /// Value errors come with `veil resolve`'s usage (see `Run.validate`).
    func validate() throws {
        _ = try Settings.build(configPath: config, flags: flagSettings)
    }

    func run() throws {
        if SecretArgument.scrub("--relay-secret") {
            FileHandleStderr.write("veil resolve: \(SecretArgument.warning(flag: "--relay-secret", instead: "--relay-secret-file FILE or VEIL_RELAY_SECRET"))\n")
        }
        let configuration = try Settings.build(configPath: config, flags: flagSettings)
        let chain: ResolverChain
        do { chain = try ResolverFactory.make(configuration) } catch {
            FileHandleStderr.write("veil: \(error)\n")
            throw ExitCode(1)
        }
        print("resolver: \(chain.name)")
        var failed = false
        for name in names {
            let started = DispatchTime.now().uptimeNanoseconds
            let outcome = chain.resolveWaiting(host: name, port: port)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            switch outcome {
            case .success(let r):
                print("\(name): \(r.addresses.map(\.ipString).joined(separator: " ")) from \(r.source) in \(String(format3(ms))) ms")
            case .failure(let why):
                failed = true
                print("\(name): FAILED: \(why) (after \(String(format3(ms))) ms)")
            }
        }
        if failed { throw ExitCode(2) }
    }

    private func format3(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return "\(r)"
    }
}

extension ResolverChain {
    /// Waits for the answer (command line only; never on a ring).
    func resolveWaiting(host: String, port: UInt16) -> ResolveOutcome {
        let box = Mutex<ResolveOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        if let now = resolve(host: host, port: port, completion: { o in box.withLock { $0 = o }; done.signal() }) {
            return now
        }
        done.wait()
        return box.withLock { $0 } ?? .failure("no answer")
    }
}
