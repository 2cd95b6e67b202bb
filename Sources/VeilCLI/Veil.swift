import ArgumentParser
import VeilProxy

@main
struct Veil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "veil",
        abstract: "A TLS-aware HTTP CONNECT proxy with an io_uring splice data plane.",
        discussion: """
            Point curl at it: curl -x http://127.0.0.1:8080 https://example.com/

            Settings come from flags, VEIL_<SETTING> environment variables and a config file (see conf/veil.conf); flags win over the environment, which wins over the file.
            """,
        version: ProxyServer.version,
        subcommands: [Run.self, Relay.self, Resolve.self, CA.self])
}
