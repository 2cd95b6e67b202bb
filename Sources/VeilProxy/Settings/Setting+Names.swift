/// Settings of name resolution, logs and metrics.
extension Setting {
    static let nameSettings: [Setting] = [
        .list(
            "resolve", .staticEntry, \.config.staticResolve, [.run, .resolve, .relay], .names,
            help: "Static name mapping HOST:PORT:ADDR[,ADDR] (curl's syntax).",
            examples: ["example.com:443:93.184.215.14", "origin.test:4433:127.0.0.1,[::1]"]),
        .value(
            "resolver", .resolvers, \.config.resolvers, [.run, .resolve], .names,
            help: """
                Who answers names not in the static map, in order: doh, dot, relay, or a list such as doh,dot \
                or relay,doh; static (--resolve entries only) or system (plain DNS, visible on the network).
                """,
            details: """
                who answers names not in the static map, in order: `doh`, `dot`, `relay` (the Veil relay over \
                its pinned TLS; needs `relay`, `relay-fingerprint` and the secret), or lists such as `doh,dot`, \
                `relay,doh` (encrypted; the next server is asked only when one cannot answer, a "no such name" \
                is final); `static`: only `resolve` entries; `system`: getaddrinfo (plain DNS, visible on the \
                network; cannot be combined)
                """,
            examples: ["doh,dot"]),
        .list(
            "doh-url", .text("URL"), \.config.dohURLs, [.run, .resolve, .relay], .names,
            help: "DoH server URL https://IP[:PORT]/PATH; its host must be an IP address or a --resolve entry.",
            details: """
                DoH servers are tried in order; HTTP/2 (or HTTP/1.1), POST `application/dns-message`; \
                the host must be an IP address or a `resolve` entry
                """,
            examples: ["https://9.9.9.9/dns-query"], default: .literal(ProxyConfiguration.defaultDoHURL)),
        .list(
            "dot-server", .text("IP[:PORT][#NAME]"), \.config.dotServers, [.run, .resolve, .relay], .names,
            help: "DoT server IP[:PORT][#NAME]; its certificate must name NAME, else the IP.",
            examples: ["9.9.9.9:853#dns.quad9.net"], default: .literal(ProxyConfiguration.defaultDoTServer)),
        .list(
            "ech-config", .echConfig, \.config.echConfigs, [.run, .resolve], .names,
            help: """
                ECH config for a host without an HTTPS record: HOST=BASE64 (the ECHConfigList, its length \
                included, as in an HTTPS record's ech=) or HOST=@FILE (the list as bytes, as bssl-tool \
                generate-ech writes it, or as base64); checked at start-up; wins over DNS.
                """,
            details: """
                `HOST=BASE64` (the ECHConfigList with its 2-byte length, as an HTTPS record's `ech=` carries \
                it) or `HOST=@FILE` (the list as bytes, as `bssl-tool generate-ech -out-ech-config-list` \
                writes it, or as base64 text); read and checked at start-up (a list that does not parse or \
                holds no usable config is an error naming the host); wins over the name's HTTPS record. \
                `veil resolve` shows it; the upstream leg uses it
                """,
            examples: ["origin.example=AEL+DQA+BwAgACBArj3s8FFViAvC6ZRlBYf+hjgVJXZgUgR8yu6myl+gCwAIAAEAAQABAAMAC3B1YmxpYy50ZXN0AAA="]),
        .optional(
            "resolver-ca", .file(), \.config.resolverCAFile, [.run, .resolve, .relay], .names,
            help: "PEM file of extra trust anchors for DoH/DoT server certificates, on top of the system store.",
            examples: ["/etc/veil/resolver-ca.pem"]),
        .value(
            "resolver-timeout", .positiveSeconds, \.config.resolverTimeout, [.run, .resolve], .names,
            help: "Seconds one DoH/DoT server gets to answer before the next is tried.",
            details: """
                seconds one server gets (connect, TLS, query) before the next is tried; then `502` with every \
                server's reason
                """,
            examples: ["2.5"]),
        .value(
            "dns-min-ttl", .number(0...86_400, "SECONDS"), \.config.dnsMinTTL, .run, .names,
            help: "Shortest time an answer is cached, seconds.",
            details: """
                answers are cached for their TTL, at least this long (shared by all workers; A, AAAA and CNAME \
                chains)
                """,
            examples: ["30"]),
        .value(
            "dns-max-ttl", .number(1...604_800, "SECONDS"), \.config.dnsMaxTTL, .run, .names,
            help: "Longest time an answer is cached, seconds.", examples: ["600"]),
        .value(
            "dns-negative-ttl", .number(0...86_400, "SECONDS"), \.config.dnsNegativeTTL, .run, .names,
            help: "Longest time 'no such name' or 'no addresses' is cached, seconds (0: not cached).",
            examples: ["0"]),
    ]

    static let logSettings: [Setting] = [
        .value(
            "record-log", .choice, \.config.recordLog, [.run, .relay], .logs,
            help: "off, summary (one line per connection) or records (one line per TLS record too).",
            details: """
                `off`, `summary` (one line per connection), `records` (plus one line per TLS record; relays in \
                userspace)
                """,
            examples: ["records"]),
        .value(
            "log-format", .choice, \.config.logFormat, [.run, .relay], .logs,
            help: "text (key=value) or json (JSON Lines: every line Veil writes).",
            details: """
                `text` (`key=value`) or `json` (JSON Lines: every line Veil writes, start-up lines, warnings and \
                shutdown figures included, as `{"event":"veil","level":"info","msg":...}`; numbers and booleans \
                typed)
                """,
            examples: ["json"]),
        .optional(
            "record-log-file", .file(), \.config.recordLogFile, [.run, .relay], .logs,
            help: "Write record and summary lines to this file (created 0600) instead of stderr; SIGHUP reopens it.",
            details: """
                file for record and summary lines, created mode 0600 (an existing file readable by others is \
                made 0600, with a warning). SIGHUP reopens it (and the key log) at its path, so `logrotate` can \
                move it away and `postrotate` send `kill -HUP`; writes under way finish in the old file
                """,
            examples: ["/var/log/veil/records.log"], default: .described("stderr")),
        .optional(
            "metrics", .address(), \.config.metrics, [.run, .relay], .logs,
            help: "ADDR:PORT to serve GET /metrics (Prometheus text format) and GET /healthz on; keep it on loopback.",
            details: """
                `ADDR:PORT` serving `GET /metrics` (Prometheus text format) and `GET /healthz` (`ok`, or `503` \
                when a worker does not answer within a second); keep it on loopback. See [Metrics](#metrics)
                """,
            examples: ["127.0.0.1:9090"], default: .described("off")),
    ]
}
