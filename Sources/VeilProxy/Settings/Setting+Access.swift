/// Settings of who and what may use the proxy, and of its capacity and timeouts.
extension Setting {
    static let accessSettings: [Setting] = [
        .list(
            "allow", .text("PATTERN[:PORTS]"), \.allow, .run, .access,
            help: "Targets allowed, PATTERN[:PORTS] (e.g. '*.example.com:443'); with any allow rule, others get 403.",
            details: """
                `PATTERN[:PORTS]`: `*`, `example.com`, `*.example.com`, `.example.com`, `10.0.0.0/8`, `[::1]`; \
                ports `443`, `8000-9000`, `*`. With any allow rule, unmatched targets get 403
                """,
            examples: ["*:443"]),
        .list(
            "deny", .text("PATTERN[:PORTS]"), \.deny, .run, .access,
            help: "Targets refused (403), PATTERN[:PORTS]; checked before allow rules.",
            details: "`PATTERN[:PORTS]` as for `allow`: targets refused (403); checked before allow rules",
            examples: ["*.internal.example", "127.0.0.0/8"]),
        .value(
            "allow-sni-mismatch", .bool, \.config.allowSNIMismatch, .run, .access,
            help: "Accept a ClientHello whose SNI differs from the CONNECT host (refused by default)."),
        .custom(
            "auth", .text("USER:PASSWORD"), kind: .list, .run, .access,
            help: "USER:PASSWORD who may use the proxy (Proxy-Authorization: Basic); prefer --auth-file or VEIL_AUTH.",
            details: """
                `USER:PASSWORD`: who may use the proxy (`Proxy-Authorization: Basic`, e.g. `curl \
                --proxy-user`), on both listeners. Prefer `auth-file` or `VEIL_AUTH`: a flag is readable by \
                every local user until Veil blanks it in its own arguments (with a warning)
                """,
            examples: ["alice:change-me"], secret: true
        ) { b, entry, origin throws(ConfigurationBuilder.Error) in
            do { try b.config.users.add(entry: entry, origin: origin) } catch { throw .init("\(error)") }
        },
        .custom(
            "auth-file", .file(), .run, .access,
            help: "htpasswd-style file of users who may use the proxy (USER:HASH; bcrypt or SHA-256/512-crypt).",
            details: """
                htpasswd-style file of `USER:HASH` lines: bcrypt (`htpasswd -B`), SHA-256/512-crypt (`openssl \
                passwd -5`, `mkpasswd -m sha-512`) or yescrypt. Without credentials a client gets `407` with a \
                `Proxy-Authenticate` challenge; wrong ones get `407` (`close=auth-failed`), and after 5 within \
                60 s that address gets `429` for 60 s (`close=rate-limited`). Hashes are checked off the worker \
                threads; credentials that passed are remembered per worker (by their SHA-256) for 5 minutes. \
                The summary line names the `user`; passwords are never logged
                """,
            examples: ["/etc/veil/users"]
        ) { b, path, origin throws(ConfigurationBuilder.Error) in
            do { try b.config.users.add(file: path) } catch { throw .init("\(origin): \(error)") }
        },
        .value(
            "allow-open-proxy", .bool, \.config.allowOpenProxy, .run, .access,
            help: "Let a listener beyond loopback serve without --auth or --auth-file (anyone who reaches it can use the proxy).",
            details: """
                a listener beyond loopback refuses to start without `auth`/`auth-file`; this lets it serve \
                anyone who reaches it
                """),
    ]

    static let capacitySettings: [Setting] = [
        .value(
            "workers", .number(1...256), \.config.workers, [.run, .relay], .capacity,
            help: "Worker threads, one io_uring each.",
            details: """
                Worker threads, one io_uring each. With more than one, each worker accepts on its own \
                listening socket (one `SO_REUSEPORT` group per listener: the kernel spreads new connections \
                over them); only processes of the same user can join such a group, and Veil refuses a port \
                something already listens on, as with one worker. See [Workers](#workers)
                """,
            examples: ["2"], default: .described("one per core")),
        .value(
            "max-connections", .number(1...1_000_000), \.config.maxConnections, [.run, .relay], .capacity,
            help: "Client connections open at once across workers; past it a client gets 503.",
            details: """
                client connections open across all workers (one through the HTTPS listener counts once); past \
                it a client is answered `503` with the reason (`close=overloaded`)
                """,
            examples: ["100"]),
        .value(
            "max-header-bytes", .number(256...16_384, "BYTES"), \.config.maxHeaderBytes, .run, .capacity,
            help: "Largest CONNECT request head in bytes (431 beyond).", examples: ["4096"]),
        .value(
            "connect-timeout", .seconds, \.config.connectTimeout, [.run, .relay], .capacity,
            help: "Seconds to resolve and connect upstream (504 beyond).", examples: ["5"]),
        .value(
            "header-timeout", .seconds, \.config.headerTimeout, .run, .capacity,
            help: "Seconds for the client to send its CONNECT request head (408 beyond).", examples: ["5"]),
        .value(
            "handshake-timeout", .seconds, \.config.handshakeTimeout, .run, .capacity,
            help: "Seconds for the TLS handshake after CONNECT.", examples: ["5"]),
        .value(
            "idle-timeout", .seconds, \.config.idleTimeout, [.run, .relay], .capacity,
            help: "Seconds without data either way before a tunnel closes.", examples: ["60"]),
        .value(
            "grace", .seconds, \.config.grace, .run, .capacity,
            help: "Seconds live connections get to finish after SIGINT/SIGTERM.",
            details: """
                after SIGINT/SIGTERM: new clients, and connections still reading their request, resolving or \
                connecting, are answered `503` (`close=shutdown`); live tunnels get this long to finish, then \
                the rest are closed, exit 0 (a second signal closes at once). Every accepted client gets an \
                answer and a summary line. SIGHUP never stops Veil
                """,
            examples: ["30"]),
        .value(
            "pipe-size", .number(0...(1 << 20), "BYTES"), \.config.pipeSize, .run, .capacity,
            help: "Largest splice pipe in bytes; pipes start at 64 KiB and grow x4 while full (0: stay at 64 KiB).",
            details: """
                largest splice pipe: pipes start at the kernel's 64 KiB and grow x4 while a transfer fills them \
                (0: stay at 64 KiB). Pipe capacity counts against `fs.pipe-user-pages-soft` for non-root users
                """,
            examples: ["262144"]),
    ]
}
