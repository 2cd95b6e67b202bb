import VeilResolver
import VeilWire
import ArgumentParser
import Dispatch
import Synchronization
import VeilProxy
import VeilTLS

/// `veil resolve NAME...`: what the configured resolver chain answers, and which resolver
/// answered. A name given twice shows the second answer coming from the cache. Its flags are the
/// settings of `Setting.all` that `veil resolve` takes; the config file and `VEIL_*` apply as
/// for `veil run`.
struct Resolve: ParsableCommand, SettingsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Resolve names with the configured resolvers (static map, DoH/DoT or system) and say which answered.")
    static let subcommand: Setting.Subcommands = .resolve

    @Argument(help: "Names to resolve, in order (repeat one to see the cache answer).")
    var names: [String]
    @Option(help: "Config file (default: $VEIL_CONFIG when set). The environment and flags override it.")
    var config: String?
    @Option(help: "Port the answers are for (static map entries are per port).")
    var port: UInt16 = 443
    @OptionGroup(title: Names.title) var resolvers: SettingFlags<Resolve, Names>
    @OptionGroup(title: RelayClient.title) var relay: SettingFlags<Resolve, RelayClient>

    var settings: ConfigurationBuilder {
        get throws { try Self.builder(configPath: config, flags: [resolvers.given, relay.given]) }
    }

    /// Value errors come with `veil resolve`'s usage (see `Run.validate`).
    func validate() throws { _ = try settings }

    func run() throws {
        Self.scrubSecrets { FileHandleStderr.write("veil resolve: \($0)\n") }
        var configuration = try settings.build()
        let chain: ResolverChain
        do {
            try RelayClientIdentity.attach(to: &configuration)
            chain = try ResolverFactory.make(configuration)
        } catch {
            FileHandleStderr.write("veil: \(error)\n")
            throw ExitCode(1)
        }
        print("resolver: \(chain.name)")
        var failed = false
        var unresolved: Set<String> = []
        for name in names {
            let started = DispatchTime.now().uptimeNanoseconds
            let outcome = chain.resolveWaiting(host: name, port: port)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            switch outcome {
            case .success(let r):
                print("\(name): \(r.addresses.map(\.ipString).joined(separator: " ")) from \(r.source) in \(String(format3(ms))) ms")
            case .failure(let why):
                failed = true
                unresolved.insert(name)
                print("\(name): FAILED: \(why) (after \(String(format3(ms))) ms)")
            }
        }
        // After every name's address line (scripts read those by line number): each name's HTTPS
        // records and ECH config, as the upstream leg will ask for them (`--ech-config` wins).
        for name in names {
            if unresolved.contains(name) {
                print("\(name): ech: not asked (the name did not resolve)")
                continue
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let https = chain.resolveHTTPSWaiting(host: name, port: port)
            let ms = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            for line in Self.echLines(name: name, https: https, explicit: chain.explicitECH(for: name),
                                      ms: format3(ms)) {
                print(line)
            }
        }
        if failed { throw ExitCode(2) }
    }

    /// `NAME: https: 1 . alpn=h2 ...` per record (`none`, `unavailable: why` or `FAILED: why`), then `NAME: ech: public_name=... config_id=...
    /// suites=... from SOURCE`, `NAME: ech: none (why)` or `NAME: ech: FAILED: why`.
    static func echLines(name: String, https: HTTPSOutcome, explicit: ECHConfigList?, ms: String) -> [String] {
        var lines: [String] = []
        switch https {
        case .records(let records, _, let source):
            if records.isEmpty { lines.append("\(name): https: none from \(source) in \(ms) ms") }
            for r in records { lines.append("\(name): https: \(r) from \(source) in \(ms) ms") }
        case .failure(let why) where HTTPSOutcome.isUnavailable(why):
            lines.append("\(name): https: unavailable: \(why)")
        case .failure(let why):
            lines.append("\(name): https: FAILED: \(why)")
        }
        let lookup: ECHLookup = explicit.map { .explicit($0) } ?? ECHLookup(https, host: name)
        switch lookup {
        case .explicit(let list): lines.append("\(name): ech: \(describe(list)) from --ech-config")
        case .dns(let list, _, let source): lines.append("\(name): ech: \(describe(list)) from \(source)")
        case .none(let why): lines.append("\(name): ech: none (\(why))")
        case .failure(let why): lines.append("\(name): ech: FAILED: \(why)")
        }
        return lines
    }

    /// `HKDF-SHA256/AES-128-GCM`; ids Veil does not know in hex.
    static func suiteName(_ s: ECHConfig.CipherSuite) -> String {
        let kdf = s.kdf == HPKESuite.kdfHKDFSHA256 ? "HKDF-SHA256" : "kdf:\(s.kdf)"
        let aead = HPKESuite.AEAD(rawValue: s.aead)?.name ?? "aead:\(s.aead)"
        return kdf + "/" + aead
    }

    /// `public_name=public.test config_id=7 suites=0x0001/0x0001,...`, or why no config is usable.
    static func describe(_ list: ECHConfigList) -> String {
        do {
            let chosen = try list.selection()
            let c = chosen.config
            return "public_name=\(c.publicName) config_id=\(c.configID) suites=\(c.cipherSuites.map(suiteName).joined(separator: ",")) using=\(chosen.suite.aead.name) configs=\(list.configs.count)"
        } catch {
            return "unusable (\(error))"
        }
    }

    private func format3(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return "\(r)"
    }
}

extension ResolverChain {
    /// The name's HTTPS records, waiting for them (command line only).
    func resolveHTTPSWaiting(host: String, port: UInt16) -> HTTPSOutcome {
        let box = Mutex<HTTPSOutcome?>(nil)
        let done = DispatchSemaphore(value: 0)
        if let now = resolveHTTPS(host: host, port: port, completion: { o in box.withLock { $0 = o }; done.signal() }) {
            return now
        }
        done.wait()
        return box.withLock { $0 } ?? .failure("no answer")
    }

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
