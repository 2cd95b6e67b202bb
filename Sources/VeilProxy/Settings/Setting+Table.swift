/// The table of every setting, in the order of `--help`, README and conf/veil.conf. Flags are
/// applied in this order too (so `relay-secret-file` wins over `relay-secret`).
extension Setting {
    public static let all: [Setting] =
        listenerSettings + interceptionSettings + nameSettings + logSettings + accessSettings
        + capacitySettings + relayClientSettings + relayServerSettings

    /// The settings `subcommand` takes as flags, in table order.
    public static func taken(by subcommand: Subcommands) -> [Setting] {
        all.filter { $0.subcommands.contains(subcommand) }
    }

    /// The setting `subcommand` knows as `name`.
    public static func named(_ name: String, for subcommand: Subcommands) -> Setting? {
        all.first { $0.name == name && $0.subcommands.contains(subcommand) }
    }

    static let listenerSettings: [Setting] = [
        .value(
            "listen", .listenAddress, \.config.listen, .run, .listeners,
            help: "Address to accept CONNECT on: IP:PORT, [IPv6]:PORT or localhost:PORT (= 127.0.0.1).",
            details: """
                where CONNECT is accepted: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT` (= `127.0.0.1`; no other \
                name is accepted, as looking one up would be plain DNS and a name can change what Veil exposes); \
                a non-loopback address gets a warning, and then (as for a non-loopback `listen-tls`) targets \
                that are, or resolve to, this host's own addresses (loopback, `0.0.0.0`, every interface's) get \
                `403` unless an `allow` rule names them (a rule for any host, `*`, does not)
                """,
            examples: ["127.0.0.1:3128"]),
        .optional(
            "listen-tls", .listen, \.listenTLS, .run, .listeners,
            help: "Address of the HTTPS proxy listener, as for --listen: clients speak TLS to Veil itself (curl -x https://...).",
            details: """
                the HTTPS proxy listener, e.g. `127.0.0.1:8443`: clients speak TLS to Veil (`curl -x \
                https://127.0.0.1:8443 --proxy-cacert ~/.veil/ca.pem`), with a certificate from Veil's CA. Works \
                beside `listen` in both modes
                """,
            examples: ["127.0.0.1:8443"], default: .described("off")),
        .optional(
            "listen-tls-name", .text("NAME"), \.config.listenTLSName, .run, .listeners,
            help: "Name in the HTTPS listener's certificate, minted by Veil's CA.",
            details: """
                the name in the HTTPS listener's certificate (`localhost` when listening on 0.0.0.0 or ::, or \
                given as `localhost:PORT`)
                """,
            examples: ["proxy.example"], default: .described("the listen IP, or localhost for localhost:PORT")),
    ]

    static let interceptionSettings: [Setting] = [
        .value(
            "mode", .choice, \.config.mode, .run, .interception,
            help: "intercept (terminate TLS with Veil's CA) or passthrough (relay the client's TLS untouched).",
            details: "`intercept`: terminate TLS on both legs; `passthrough`: relay the client's TLS untouched",
            examples: ["passthrough"]),
        .list(
            "passthrough", .pattern, \.config.passthroughHosts, .run, .interception,
            help: "Host pattern PATTERN[:PORTS] relayed untouched even in intercept mode.",
            examples: ["*.bank.example"]),
        .value(
            "home", .text("DIR", completion: .directory), \.config.home, [.run, .ca], .interception,
            help: "Directory of Veil's CA (created 0700; also VEIL_HOME).",
            details: "where the CA lives (`VEIL_HOME`; created 0700, the key file 0600)",
            examples: ["/var/lib/veil"], default: .described("~/.veil")),
        .optional(
            "upstream-ca", .file(), \.config.upstreamCAFile, .run, .interception,
            help: "PEM file of extra trust anchors for upstream certificates, on top of the system store.",
            examples: ["/etc/veil/upstream-ca.pem"]),
        .value(
            "insecure-upstream", .bool, \.config.insecureUpstream, .run, .interception,
            help: "Do not verify upstream certificates (dangerous; logged loudly).",
            details: """
                do not verify upstream certificates; warned at start-up and marked `upstream_verify=OFF` on \
                every summary
                """),
        .value(
            "sni", .sni, \.config.sniPolicy, .run, .interception,
            help: "What the upstream ClientHello's server_name carries: real, omit or cover:NAME.",
            details: "upstream server_name: `real`, `omit` or `cover:NAME`; verification always uses the real name",
            examples: ["omit"]),
        .custom(
            "sni-rule", .rule("real|omit|cover:NAME", SNIPolicy.init(parsing:)), kind: .list, .run, .interception,
            help: "Per-host SNI policy PATTERN=POLICY, e.g. '*.example.com=omit'; the first match wins over --sni.",
            examples: ["*.example.com=omit"]
        ) { b, r, _ in b.config.sniRules.append((r.pattern, r.choice)) },
        .value(
            "ech", .choice, \.config.ech, .run, .interception,
            help: """
                Encrypted Client Hello upstream: auto (where the name's HTTPS record or --ech-config has a \
                config, else --sni as today), require (refuse targets without one) or off.
                """,
            details: """
                Encrypted Client Hello upstream (RFC 9849): `auto` uses ECH where a config exists (the `ech` \
                of the name's HTTPS record over the encrypted resolvers, or `ech-config`), else `sni` as \
                today; `require` refuses targets without a config (`502` with the reason); `off` never. \
                Intercepted connections only (see "Encrypted Client Hello upstream"); no config and `auto`: \
                a GREASE ECH extension; a server that does not accept ECH: `close=ech-rejected`, never a \
                retry with the name in clear
                """,
            examples: ["off"]),
        .value(
            "ech-wait", .positiveSeconds, \.config.echWait, .run, .interception,
            help: "Under --ech auto, seconds a connection waits for a late HTTPS record (its ECH config) before GREASE.",
            details: """
                under `ech auto`, once the addresses are in (or a relay tunnel is up), how long a connection \
                waits for the name's HTTPS record before it goes on with GREASE (`ech_note=` says so; a later \
                answer is cached for the next connection); at most a quarter of `connect-timeout`
                """,
            examples: ["0.5"]),
        .custom(
            "ech-rule", .rule("auto|require|off", ECHMode.init(rawValue:)), kind: .list, .run, .interception,
            help: "Per-host ECH policy PATTERN=POLICY, e.g. '*.example.com=require'; the first match wins over --ech.",
            examples: ["*.example.com=off"]
        ) { b, r, _ in b.config.echRules.append((r.pattern, r.choice)) },
        .optional(
            "keylog", .file(), \.config.keylogFile, .run, .interception,
            help: "Append NSS key log lines for both legs to this file (created 0600); SSLKEYLOGFILE does the same.",
            details: """
                append NSS key-log lines for both legs (created 0600; an existing file readable by others is made \
                0600, with a warning); `SSLKEYLOGFILE` does the same. Secrets are written nowhere else
                """,
            examples: ["/var/log/veil/keys.log"],
            environment: [EnvironmentName(name: "SSLKEYLOGFILE", emptyIsUnset: true),
                          EnvironmentName(name: "VEIL_KEYLOG", emptyIsUnset: false)]),
        .value(
            "upstream-min-tls", .tlsVersion, \.config.upstreamMinVersion, .run, .interception,
            help: "Oldest TLS version offered upstream: 1.2 or 1.3.", examples: ["1.3"]),
        .value(
            "upstream-groups", .text("LIST"), \.config.upstreamGroups, .run, .interception,
            help: "Key exchange groups offered upstream (OpenSSL list syntax).", examples: ["X25519"]),
        .value(
            "ktls", .choice, \.config.ktls, .run, .interception,
            help: "Kernel TLS for intercepted data: auto (where the kernel and cipher allow), off, or require (refuse without it).",
            details: """
                kernel TLS for intercepted data: `auto` uses it where the kernel and the cipher allow \
                (AES-128/256-GCM, ChaCha20-Poly1305; TLS 1.2 and 1.3), else userspace OpenSSL, decided per \
                connection and per leg (a leg whose cipher has no kernel offload, e.g. a TLS 1.2 CBC suite, \
                stays in userspace beside a kTLS one: `client_path`/`upstream_path` then say `userspace` and \
                `ktls`); `off` never; `require` refuses intercepted connections without it on both legs (503, or \
                a closed connection naming the leg). The start-up line says whether the kernel offers kTLS and \
                why not
                """,
            examples: ["off"]),
        .value(
            "record-layer", .choice, \.config.recordLayer, .run, .interception,
            help: "Who seals and opens intercepted records in userspace after the handshakes: veil (its own record layer) or openssl.",
            details: """
                who seals and opens records in userspace (no kTLS) after the handshakes, on intercepted legs and \
                on the outer sessions of the HTTPS listener and relay tunnels: `veil`, Veil's own record layer \
                (TLS 1.2 and 1.3 with AES-128/256-GCM or ChaCha20-Poly1305; it takes over from OpenSSL once \
                64 KiB have moved and both sessions are at a record boundary, and applies and answers TLS 1.3 \
                KeyUpdates; other ciphers stay on OpenSSL, with `records_note=` saying why); `openssl`, \
                SSL_read/SSL_write throughout
                """,
            examples: ["openssl"]),
        .value(
            "split-hello", .bool, \.config.splitHello, .run, .interception,
            help: "Send the ClientHello upstream as two TLS records split inside the server name.",
            details: """
                ClientHello sent upstream as two TLS records split inside the server name, one TCP segment \
                each (valid TLS; only defeats middleboxes that do not reassemble)
                """),
    ]
}
