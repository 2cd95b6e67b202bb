import VeilResolver
import VeilWire
import ArgumentParser
import Dispatch
import Synchronization
import VeilProxy

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
        let configuration = try settings.build()
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
