import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy
import VeilRuntime

/// `veil run`: merge the config file, the environment and the flags into a `ProxyConfiguration`
/// and start the proxy. Its flags are the settings of `Setting.all` that `veil run` takes.
struct Run: ParsableCommand, SettingsCommand {
    static let configuration = CommandConfiguration(abstract: "Run the proxy.")
    static let subcommand: Setting.Subcommands = .run

    @Option(help: "Config file (default: $VEIL_CONFIG when set). The environment and flags override it.")
    var config: String?
    @OptionGroup(title: Listeners.title) var listeners: SettingFlags<Run, Listeners>
    @OptionGroup(title: Interception.title) var interception: SettingFlags<Run, Interception>
    @OptionGroup(title: Names.title) var names: SettingFlags<Run, Names>
    @OptionGroup(title: Logs.title) var logs: SettingFlags<Run, Logs>
    @OptionGroup(title: Access.title) var access: SettingFlags<Run, Access>
    @OptionGroup(title: Capacity.title) var capacity: SettingFlags<Run, Capacity>
    @OptionGroup(title: RelayClient.title) var relay: SettingFlags<Run, RelayClient>

    var settings: ConfigurationBuilder {
        get throws {
            try Self.builder(configPath: config, flags: [listeners.given, interception.given, names.given, logs.given,
                                                          access.given, capacity.given, relay.given])
        }
    }

    /// Value errors (flags, environment, config file) are found here rather than in `run`: an
    /// error thrown from `validate` comes with `veil run`'s usage, one thrown from `run` with the
    /// top-level one.
    func validate() throws { _ = try settings }

    func run() throws {
        MallocTuning.apply()
        var configuration = try settings.build()
        let log = ProcessLog(format: configuration.logFormat)
        Self.scrubSecrets { log.say("veil: \($0)") }
        do {
            try RelayClientIdentity.attach(to: &configuration)
            try ProxyServer(config: configuration).run()
        } catch {
            log.say("veil: error: cannot start: \(error)")
            throw ExitCode(1)
        }
    }
}
