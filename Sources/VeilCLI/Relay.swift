import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy
import VeilRuntime

/// `veil relay`: the companion server meant to run outside the observed network. A TLS listener
/// (self-signed certificate generated on first run under --home; clients pin its SHA-256
/// fingerprint), CONNECT tunnels for clients with the shared secret, limits on ports, private
/// targets and connections per client. Built on the same proxy core in pass-through mode; its
/// flags are the settings of `Setting.all` that `veil relay` takes.
struct Relay: ParsableCommand, SettingsCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the Veil relay: CONNECT tunnels over TLS for veil run --route tunnel.")
    static let subcommand: Setting.Subcommands = .relay

    @OptionGroup(title: RelayServer.title) var relay: SettingFlags<Relay, RelayServer>
    @OptionGroup(title: Names.title) var names: SettingFlags<Relay, Names>
    @OptionGroup(title: Logs.title) var logs: SettingFlags<Relay, Logs>
    @OptionGroup(title: Capacity.title) var capacity: SettingFlags<Relay, Capacity>

    var settings: ConfigurationBuilder {
        get throws { try Self.builder(flags: [relay.given, names.given, logs.given, capacity.given]) }
    }

    /// Value errors come with `veil relay`'s usage (see `Run.validate`); nothing is created here.
    func validate() throws { _ = try settings }

    func run() throws {
        MallocTuning.apply()
        let settings = try settings
        var configuration = try settings.build()
        let log = ProcessLog(format: configuration.logFormat)
        Self.scrubSecrets { log.say("veil relay: \($0)") }
        let secret = try settings.relayServerSecret ?? homeSecret(configuration.home, log: log)
        if let problem = SecretFile.problem(with: secret) { throw ValidationError("secret: \(problem)") }
        configuration.relayServer?.secret = secret
        do {
            try ProxyServer(config: configuration).run()
        } catch {
            log.say("veil relay: error: cannot start: \(error)")
            throw ExitCode(1)
        }
    }

    /// Without --secret-file, --secret or VEIL_SECRET: the one in HOME/relay-secret, generated
    /// there (0600) on first use; its path is printed, never the secret.
    private func homeSecret(_ home: String, log: ProcessLog) throws -> String {
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
