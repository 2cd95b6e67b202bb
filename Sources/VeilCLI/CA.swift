import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy
import VeilTLS

/// `veil ca path` and `veil ca export`: where Veil's CA certificate is, and its PEM, so clients
/// can trust it (`curl --cacert "$(veil ca path)"`). Both create the CA on first use.
struct CA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Show Veil's certificate authority (created on first use).",
        subcommands: [Path.self, Export.self])

    /// `--home` as declared in `Setting.all` (VEIL_HOME applies too).
    struct HomeOption: ParsableArguments, SettingsCommand {
        static let subcommand: Setting.Subcommands = .ca
        @OptionGroup var home: SettingFlags<HomeOption, AllSections>

        /// Value errors come with the subcommand's usage (see `Run.validate`).
        func validate() throws { _ = try homeDirectory() }

        private func homeDirectory() throws -> String {
            try Self.builder(flags: [home.given]).config.home
        }

        func authority() throws -> CertificateAuthority {
            let home = try homeDirectory()
            do {
                return try CertificateAuthority.loadOrCreate(home: home)
            } catch {
                FileHandleStderr.write("veil: \(error)\n")
                throw ExitCode(1)
            }
        }
    }

    struct Path: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the path of the CA certificate (PEM).")
        @OptionGroup var options: HomeOption
        func run() throws { print(try options.authority().certificatePath) }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the CA certificate (PEM).")
        @OptionGroup var options: HomeOption
        func run() throws { print(try options.authority().certificatePEM, terminator: "") }
    }
}
