/// Settings of the Veil relay: how `veil run` reaches it, and `veil relay`'s own.
extension Setting {
    static let relayClientSettings: [Setting] = [
        .value(
            "route", .choice, \.config.route, .run, .relayClient,
            help: "How targets are reached: direct, or tunnel (inside TLS to the Veil relay).",
            details: """
                `tunnel`: every target goes inside TLS to the Veil relay (below); Veil neither resolves nor \
                connects to the target itself
                """,
            examples: ["tunnel"]),
        .custom(
            "route-rule", .rule("direct|tunnel", Route.init(rawValue:)), kind: .list, .run, .relayClient,
            help: "Per-host route PATTERN=direct|tunnel, e.g. '*.example.com=tunnel'; the first match wins over --route.",
            examples: ["*.example.com=tunnel"]
        ) { b, r, _ in b.config.routeRules.append((r.pattern, r.choice)) },
        .list(
            "relay", .address(why: " (an address, so that finding the relay leaks nothing)"), \.relayAddresses,
            [.run, .resolve], .relayClient,
            help: "The Veil relay's IP:PORT, for tunnelled targets and the relay resolver (repeatable: one relay-fingerprint each, in order).",
            details: """
                the relay's `IP:PORT` (an address, so finding the relay leaks nothing); needed when anything is \
                tunnelled or the relay resolves. Repeatable, with one `relay-fingerprint` per relay in the same \
                order (and one secret): new tunnels are spread over the relays that answer, a tunnel whose relay \
                cannot be reached goes to the next, and a relay that failed is left alone for a backoff (0.25 s \
                doubling to 30 s)
                """,
            examples: ["203.0.113.7:8443"]),
        .list(
            "relay-fingerprint", .fingerprint, \.relayFingerprints, [.run, .resolve], .relayClient,
            help: "SHA-256 fingerprint of the relay's certificate, as veil relay prints it (colons optional).",
            details: """
                SHA-256 of the relay's certificate as `veil relay` prints it (colons optional): the relay is \
                pinned, no CA. A mismatch fails the connection (`502`, `close=relay-failed`, reason `relay \
                certificate fingerprint mismatch (got ..., pinned ...)`) before anything is sent
                """,
            examples: ["5A:4E:20:2E:6B:8F:00:C1:9D:12:7E:44:A0:3B:5C:E2:19:F7:88:06:D4:2A:B3:61:0C:95:4F:E8:71:2D:5D:C4"]),
        .optional(
            "relay-secret", .text("SECRET"), \.relaySecret, [.run, .resolve], .relayClient,
            help: "The relay's shared secret (also VEIL_RELAY_SECRET); prefer --relay-secret-file.",
            details: """
                the relay's shared secret (also `VEIL_RELAY_SECRET`). Prefer `relay-secret-file` or the \
                variable: a `--relay-secret` flag is readable by every local user until Veil blanks it in its \
                own arguments (with a warning), and a config file holding it is a secret too (keep it 0600)
                """,
            examples: ["a-secret-from-the-relay-0123456789"], secret: true,
            environment: [EnvironmentName(name: "VEIL_RELAY_SECRET", emptyIsUnset: true)]),
        .optional(
            "relay-secret-file", .secretFile, \.relaySecret, [.run, .resolve], .relayClient,
            help: "File whose first line is the relay's shared secret.",
            examples: ["/etc/veil/relay-secret"]),
        .custom(
            "relay-token", .relayToken, kind: .list, [.run, .resolve], .relayClient,
            help: "The relay's connection token (or @FILE), as veil relay writes it to HOME/relay-token: one relay, standing for --relay, --relay-fingerprint and the secret.",
            details: """
                the relay's connection token `VR1<fingerprint>::<secret>@IP:PORT`, or `@FILE` (its first line), \
                as `veil relay` writes it to `HOME/relay-token`: one relay, standing for `relay`, \
                `relay-fingerprint` and the secret. Repeatable (one token per relay; tokens come before the relays \
                given by `relay`). Also `VEIL_RELAY_TOKEN`; it holds the secret, so prefer `@FILE` or the variable
                """,
            examples: ["VR15A4E202E6B8F00C19D127E44A03B5CE219F78806D42AB3610C954FE8712D5DC4::a-secret-from-the-relay-0123456789@203.0.113.7:8443"], secret: true,
            environment: [EnvironmentName(name: "VEIL_RELAY_TOKEN", emptyIsUnset: true)]
        ) { b, token, _ in b.relayTokens.append(token) },
        .value(
            "relay-mux", .choice, \.config.relayMux, .run, .relayClient,
            help: "on: every tunnel is an HTTP/2 CONNECT stream over one TLS connection per worker to the relay; off: one TLS connection per tunnel.",
            details: """
                `on`: each worker keeps one TLS connection to the relay (ALPN `h2`) and every tunnel is an \
                HTTP/2 CONNECT stream on it (RFC 9113 8.5; flow control per stream): no TCP and TLS set-up per \
                new connection, one connection for an observer to see, PING keepalive and reconnect. The relay \
                must speak HTTP/2 CONNECT (say `nghttpx --http2-proxy`). `off`: one TLS connection and an \
                HTTP/1.1 CONNECT per tunnel, which can move onto kTLS and splice (fastest for a few big transfers)
                """,
            examples: ["on"]),
        .value(
            "relay-keepalive", .positiveSeconds, \.config.relayKeepalive, .run, .relayClient,
            help: "Seconds between HTTP/2 PINGs on the multiplexed relay connection (relay-mux on).",
            examples: ["15"]),
        .value(
            "relay-dead-after", .number(1...100), \.config.relayDeadAfter, .run, .relayClient,
            help: "PINGs unanswered in a row after which the multiplexed relay connection is dead and replaced.",
            examples: ["2"]),
    ]

    /// `veil relay`'s own flags. Settings it shares with `veil run` (resolvers, logs, capacity)
    /// are in the other tables; `veil relay` takes no `VEIL_*` variable but VEIL_SECRET.
    static let relayServerSettings: [Setting] = [
        .optional(
            "listen", .listen, \.listenTLS, .relay, .relayServer,
            help: "Address of the relay's TLS listener (IP:PORT, [IPv6]:PORT or localhost:PORT); a non-loopback one is meant for the internet and gets a note.",
            examples: ["0.0.0.0:8443"]),
        .value(
            "home", .text("DIR", completion: .directory), \.config.home, .relay, .relayServer,
            help: "Directory of the relay's certificate and key (created 0700).",
            details: """
                directory of the relay's certificate (self-signed, EC P-256, generated on first run; its \
                SHA-256 fingerprint is printed at every start and pinned by clients) and of its generated secret
                """,
            examples: ["/var/lib/veil-relay"], default: .described("~/.veil-relay")),
        .optional(
            "secret", .text("SECRET"), \.relayServerSecret, .relay, .relayServer,
            help: "Shared secret clients must send (also VEIL_SECRET; prefer --secret-file). Without one, the one in HOME/relay-secret is used, generated there (0600) on first run.",
            details: """
                the shared secret clients send (`Proxy-Authorization: Bearer`), compared in constant time and \
                never logged; also `VEIL_SECRET`. On the command line every local user can read it: Veil blanks \
                it in its own arguments and warns. Without one, the one in `HOME/relay-secret` is used, \
                generated there (0600) on first run: its path is printed, never the secret
                """,
            examples: ["a-secret-for-the-clients-0123456789"], default: .described("HOME/relay-secret"), secret: true,
            environment: [EnvironmentName(name: "VEIL_SECRET", emptyIsUnset: true)]),
        .optional(
            "secret-file", .secretFile, \.relayServerSecret, .relay, .relayServer,
            help: "File whose first line is the shared secret.",
            examples: ["/etc/veil/relay-secret"], default: .described("HOME/relay-secret")),
        .custom(
            "token-address", .address(), .relay, .relayServer,
            help: "The IP:PORT clients reach this relay at, written into its connection token (default: --listen, unless that is 0.0.0.0 or [::]).",
            details: """
                the `IP:PORT` clients reach this relay at, written into the connection token `HOME/relay-token` \
                (default: the `listen` address, unless that is `0.0.0.0` or `[::]`: then no token is written \
                until this is given)
                """,
            examples: ["203.0.113.7:8443"]
        ) { b, address, _ in b.relayServer.tokenAddress = address },
        .custom(
            "client-fingerprint", .fingerprint, kind: .list, .relay, .relayServer,
            help: "SHA-256 fingerprint of a client certificate to accept (repeatable); veil run prints its own at start-up.",
            details: """
                SHA-256 of a client certificate this relay accepts (repeatable): with any, the relay asks \
                clients for a certificate (encrypted on the wire by TLS 1.3) and refuses others with `403` \
                (`close=auth-failed`); `veil run` makes its own in `HOME/relay-client/` on first use and prints \
                its fingerprint at start-up
                """,
            examples: ["5A:4E:20:2E:6B:8F:00:C1:9D:12:7E:44:A0:3B:5C:E2:19:F7:88:06:D4:2A:B3:61:0C:95:4F:E8:71:2D:5D:C4"]
        ) { b, f, _ in b.relayServer.clientFingerprints.append(f) },
        .optional(
            "client-auth", .choice, \.relayClientAuth, .relay, .relayServer,
            help: "What clients must show: secret, certificate (a pinned --client-fingerprint) or both.",
            details: """
                what clients must show: `secret` (the shared secret), `certificate` (a certificate pinned by \
                `client-fingerprint`; no secret needed) or `both`
                """,
            examples: ["certificate"], default: .described("both with --client-fingerprint, else secret")),
        .list(
            "allow-port", .ports, \.relayPorts, .relay, .relayServer,
            help: "Target ports allowed, e.g. 443 or 443,8443 or 8000-9000.",
            examples: ["443,8443", "8000-9000"], default: .literal("443")),
        .value(
            "allow-private", .bool, \.relayServer.allowPrivate, .relay, .relayServer,
            help: "Allow targets in loopback, private and link-local ranges (refused by default).",
            details: """
                allow targets that are, or resolve to, loopback, private, CGNAT or link-local addresses (by \
                default they get `403`)
                """),
        .value(
            "max-per-client", .number(1...1_000_000), \.relayServer.maxPerClient, .relay, .relayServer,
            help: "Connections open at once per client address (429 beyond).", examples: ["16"]),
        .value(
            "auth-failures", .number(1...1_000_000), \.relayServer.authFailureLimit, .relay, .relayServer,
            help: "Wrong secrets from one address within 60 s before it is refused (429) for --auth-block seconds.",
            examples: ["3"]),
        .value(
            "auth-block", .seconds, \.relayServer.authBlock, .relay, .relayServer,
            help: "Seconds an address is refused after too many wrong secrets.", examples: ["600"]),
        .value(
            "resolver", .resolvers, \.config.resolvers, .relay, .names,
            help: "Who answers target names here: system (the relay runs outside the observed network), doh, dot, doh,dot or static (not relay).",
            examples: ["doh"]),
    ]
}
