import VeilResolver
import VeilWire
import ArgumentParser
import VeilProxy

@main
struct Veil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "veil",
        abstract: "A TLS-aware HTTP CONNECT proxy with an io_uring splice data plane.",
        discussion: """
            Start it in one shell, then point curl at it from another, trusting Veil's CA (created in ~/.veil, or $VEIL_HOME, at the first start):

              veil run
              curl -x http://127.0.0.1:8080 --cacert "$(veil ca path)" https://example.com/

            Settings come from flags, VEIL_<SETTING> environment variables and a config file (see conf/veil.conf, installed as etc/veil/veil.conf); flags win over the environment, which wins over the file. Every subcommand has its own help: veil help run, veil run --help.
            """,
        version: ProxyServer.version,
        subcommands: [Run.self, Relay.self, Resolve.self, CA.self])
}
