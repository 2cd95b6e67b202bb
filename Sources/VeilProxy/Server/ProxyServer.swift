import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Starts the workers, each accepting on its own listening socket (one SO_REUSEPORT group per
/// listener), and runs until SIGINT/SIGTERM, then drains: new clients are answered 503, live
/// connections get `grace` seconds, the rest are closed; once every worker has drained they
/// stop accepting, the clients still queued on the listeners are answered, and it returns.
public struct ProxyServer {
    public let config: ProxyConfiguration
    public static let version = "0.1.0"

    public init(config: ProxyConfiguration) {
        self.config = config
    }

    /// Runs the proxy. Returns after a clean shutdown; throws if it cannot start.
    public func run() throws(StartError) {
        do {
            try start()
        } catch let e as StartError {
            throw e
        } catch {
            throw StartError("\(error)")
        }
    }

    private func start() throws {
        WorkerGroup.blockSignals()
        // The CA is needed whenever anything may be intercepted; problems with it stop start-up.
        // The CA is also what the HTTPS listener's certificate comes from.
        let interception = config.mode == .intercept || config.listenTLS != nil ? try Interception(config: config) : nil
        var recordLogFD: Int32 = 2
        if let path = config.recordLogFile {
            let (fd, tightened) = try PrivateFile.openForAppend(path)
            recordLogFD = fd
            if let mode = tightened {
                say("veil: warning: record log \(path) was mode \(String(mode, radix: 8)), readable by others; it is 0600 now")
            }
        }
        if let interception, let mode = interception.keylogTightened {
            say("veil: warning: key log \(config.keylogFile ?? "?") was mode \(String(mode, radix: 8)), readable by others; it is 0600 now")
        }
        // `veil relay` has no plain listener: only its TLS one.
        let listenFDs = config.plainListener ? try Socket.listenGroup(on: config.listen, count: config.workers) : []
        let listenFD = listenFDs.first ?? -1
        let bound = listenFD >= 0 ? Socket.localAddress(listenFD) ?? config.listen : config.listen
        // --relay-mux on: relay lookups go on the workers' multiplexed relay connections.
        let relayQueries = config.relayMux == .on && !config.relays.isEmpty ? RelayMuxQueries() : nil
        let chain = try ResolverFactory.make(config, relayCarrier: relayQueries)
        var front: FrontListener?
        if let address = config.listenTLS, let interception {
            let fds: [Int32]
            do { fds = try Socket.listenGroup(on: address, count: config.workers) } catch {
                for fd in listenFDs { Socket.close(fd) }
                throw error
            }
            let bound = Socket.localAddress(fds[0]) ?? address
            let ip = bound.ipString
            let name = config.listenTLSName ?? (ip == "0.0.0.0" || ip == "::" ? "localhost" : ip)
            do {
                let identity = config.relayServer != nil ? try ServerIdentity(authority: interception.authority) : nil
                front = try FrontListener(fds: fds, address: bound, name: name, interception: interception, identity: identity,
                                          askClientCertificate: !(config.relayServer?.clientFingerprints.isEmpty ?? true))
            } catch {
                for fd in fds { Socket.close(fd) }
                throw StartError("HTTPS listener certificate for \(name): \(error)")
            }
        }
        var relayClientContext: TLSContext?
        if config.usesRelay || relayQueries != nil {
            var options = TLSContext.UpstreamOptions()
            options.verify = false  // pinned by fingerprint once the handshake is done
            options.minVersion = 0x0304  // TLS 1.3: the relay's certificate is encrypted on the wire
            // The tunnel's session moves onto kTLS where the kernel has it, or onto Veil's own
            // record layer: both need the secrets.
            options.captureSecrets = config.ktls != .off || config.recordLayer == .veil
            options.clientCertificate = config.relay?.clientCertificate
            do { relayClientContext = try TLSContext.upstream(options) } catch {
                throw StartError("relay TLS context: \(error)")
            }
        }
        // Beyond loopback, anyone who reaches a listener must not reach this host's own services.
        var config = self.config
        // (A relay started with --allow-private was told loopback and local targets are fine.)
        let exposed = (!isLoopback(bound) && listenFD >= 0 || front.map { !isLoopback($0.address) } ?? false)
            && !(config.relayServer?.allowPrivate ?? false)
        if exposed {
            config.rules = config.rules.guardingOwnAddresses(SocketAddress.interfaceAddresses())
            if config.users.isEmpty && !config.allowOpenProxy && config.relayServer == nil {
                throw StartError("a listener is not on loopback (\(listenFD >= 0 ? bound.description : front.map { $0.address.description } ?? "?")) and no --auth or --auth-file is given: anyone who reaches it could use this proxy. Add users, or --allow-open-proxy if that is what you want")
            }
        }
        let shared = ProxyShared(config: config, resolver: chain, listenFDs: listenFDs, recordLogFD: recordLogFD,
                                 interception: interception, front: front,
                                 relayGate: config.relayServer.map { RelayGate(settings: $0) },
                                 relayClientContext: relayClientContext)

        let group = try WorkerGroup(count: config.workers) { loop in
            let worker = ProxyWorker(loop: loop, shared: shared)
            loop.context = worker
            worker.start()
        }
        relayQueries?.attach(group.remotes)
        var metrics: MetricsServer?
        if let address = config.metrics {
            let fd = try Socket.listen(on: address, backlog: 64)
            let server = MetricsServer(fd: fd, address: Socket.localAddress(fd) ?? address, remotes: group.remotes,
                                       interception: interception)
            server.start()
            metrics = server
        }
        if let relay = config.relayServer, let front, let identity = front.identity {
            sayRelayStart(relay, front: front, identity: identity, resolver: chain.name)
        } else {
            sayStart(bound: bound, front: front, interception: interception, resolver: chain.name, exposed: exposed)
        }

        var reopen: [(what: String, path: String, fd: Int32)] = []
        if let path = config.recordLogFile { reopen.append(("record log", path, recordLogFD)) }
        if let path = config.keylogFile, let fd = interception?.keylogFD, fd >= 0 { reopen.append(("key log", path, fd)) }
        let hangUp = ProxyServer.reopener(reopen, log: ProcessLog(format: config.logFormat))
        let signal = WorkerGroup.waitForTerminationSignal(hangUp: hangUp)
        say("veil: \(signal == SIGINT ? "SIGINT" : "SIGTERM"): new connections are answered 503; live connections get \(config.grace)s")
        let graceDeadline = MonotonicClock.now() + config.grace.nanoseconds
        group.broadcast { loop in (loop.context as? ProxyWorker)?.beginShutdown(graceDeadline: graceDeadline) }
        // A second signal closes everything at once.
        Thread.detach {
            _ = WorkerGroup.waitForTerminationSignal(hangUp: hangUp)
            group.broadcast { loop in (loop.context as? ProxyWorker)?.forceClose() }
        }
        // Each worker answers 503 on its own listener until the last one has drained.
        shared.drainQuorum.wait()
        group.broadcast { loop in (loop.context as? ProxyWorker)?.stopAccepting() }
        group.join()
        if let metrics {
            metrics.stop()
            Socket.close(metrics.fd)
        }
        // Clients the kernel queued after the workers stopped accepting still get an answer:
        // each worker's listener is drained before it is closed (closing it would reset the
        // clients queued on it).
        ShutdownBacklog(config: config, recordLogFD: recordLogFD, nextID: shared.makeConnectionID)
            .refuseAndClose(listenFDs: listenFDs, tlsListenFDs: front?.fds ?? [])
        if let interception {
            let s = interception.minter.stats()
            let mean = s.mints > 0 ? s.totalMintNanos / UInt64(s.mints) / 1000 : 0
            let hits = s.hits + interception.workerCacheHits.load(ordering: .relaxed)
            say("veil: certificates minted=\(s.mints) cache_hits=\(hits) mean_mint_us=\(mean)")
        }
        say("veil: stopped")
    }

    /// SIGHUP: never fatal (a logrotate `postrotate kill -HUP` must not stop the proxy): the
    /// record log and key log files are opened again at their paths and take the place of the
    /// old descriptors (dup2: writes under way finish in the old file, later ones go to the new).
    private static func reopener(_ files: [(what: String, path: String, fd: Int32)], log: ProcessLog) -> @Sendable () -> Void {
        let files = files.map { ($0.what, $0.path, $0.fd) }
        return {
            if files.isEmpty { log.say("veil: SIGHUP: no log file to reopen; still running") }
            for (what, path, fd) in files {
                do {
                    let (fresh, tightened) = try PrivateFile.openForAppend(path)
                    let moved = dup2(fresh, fd)
                    close(fresh)
                    guard moved >= 0 else { throw SystemError("dup2") }
                    log.say("veil: SIGHUP: reopened \(what) \(path)")
                    if let mode = tightened {
                        log.say("veil: warning: \(what) \(path) was mode \(String(mode, radix: 8)), readable by others; it is 0600 now")
                    }
                } catch {
                    log.say("veil: warning: SIGHUP: cannot reopen \(what) \(path) (\(error)); still writing to the old file")
                }
            }
        }
    }

    private func sayStart(bound: SocketAddress, front: FrontListener?, interception: Interception?, resolver: String,
                          exposed: Bool) {
        say("veil \(ProxyServer.version): listening on \(bound) (mode \(config.mode.rawValue), \(config.workers) worker\(config.workers == 1 ? "" : "s"), resolver \(resolver), record log \(config.recordLog.rawValue))")
        if let front, let interception {
            say("veil: HTTPS proxy listener on \(front.address) (certificate for \(front.name) from Veil's CA; clients: curl -x https://\(front.address) --proxy-cacert \(interception.authority.certificatePath))")
        }
        if let interception, config.mode == .intercept {
            say("veil: intercepting TLS with the CA in \(interception.authority.certificatePath) (clients: curl --cacert \(interception.authority.certificatePath)); upstream SNI \(config.sniPolicy)")
            say("veil: kTLS \(interception.kernelTLS)\(config.ktls == .require && !interception.kernelTLS.isAvailable ? ": --ktls require: intercepted connections will be refused" : interception.kernelTLS.isAvailable ? "" : "; intercepted data uses userspace OpenSSL")")
            if config.insecureUpstream {
                say("veil: WARNING: --insecure-upstream: upstream certificates are NOT verified; anyone on the path can impersonate any site")
            }
            if interception.keylogFD >= 0 {
                say("veil: writing TLS secrets of both legs to \(config.keylogFile ?? "?") (key log); anyone with that file can decrypt captured traffic")
            }
        }
        if config.mode == .passthrough && (config.ech != .off || !config.echConfigs.isEmpty) {
            say("veil: pass-through does not do Encrypted Client Hello (the client writes its own ClientHello): ECH applies to intercepted connections only")
        }
        if config.systemResolver {
            say("veil: warning: --resolver system uses plain DNS: names you visit are visible on the local network")
        }
        if !isLoopback(bound) {
            say("veil: warning: listening on \(bound), which is not loopback: anyone who can reach it can use this proxy")
        }
        if let metrics = config.metrics {
            say("veil: metrics on http://\(metrics)/metrics and /healthz\(isLoopback(metrics) ? "" : " (warning: not loopback: anyone who reaches it sees the counters)")")
        }
        if exposed {
            say("veil: a listener is not on loopback: targets on this host's own addresses (loopback and every interface's) are refused unless an allow rule names them")
        }
        if let relay = config.relay {
            let rules = config.routeRules.map { "\($0.pattern.text)=\($0.route.rawValue)" }
            say("veil: route \(config.route.rawValue)\(rules.isEmpty ? "" : " (rules: \(rules.joined(separator: ", ")))"); tunnels through the relay at \(relay.address), pinned to certificate \(relay.fingerprint)")
            for other in config.relays.dropFirst() {
                say("veil: also the relay at \(other.address), pinned to certificate \(other.fingerprint) (new tunnels are spread over the relays that answer)")
            }
            if let mine = relay.clientCertificate {
                say("veil: relay client certificate SHA-256 \(RelayFingerprint.format(mine.fingerprint)) in \(config.home)/relay-client (a relay with --client-fingerprint must list it)")
            }
        }
    }

    private func sayRelayStart(_ relay: RelayServerSettings, front: FrontListener, identity: ServerIdentity, resolver: String) {
        let ports = relay.allowedPorts.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
        say("veil relay \(ProxyServer.version): listening on \(front.address) (TLS, \(config.workers) worker\(config.workers == 1 ? "" : "s"); ports \(ports.joined(separator: ",")); \(relay.allowPrivate ? "private and loopback targets ALLOWED (--allow-private)" : "private and loopback targets refused"); at most \(relay.maxPerClient) connections per client; names resolved here by \(resolver))")
        say("veil relay: certificate SHA-256 fingerprint \(RelayFingerprint.format(identity.fingerprint))")
        say("veil relay: certificate and key in \(config.home) (clients: veil run --route tunnel --relay ADDR:PORT --relay-fingerprint FINGERPRINT --relay-secret-file FILE)")
        writeToken(relay, address: front.address, fingerprint: identity.fingerprint)
        if relay.clientAuth != .secret {
            say("veil relay: clients must show a certificate pinned by --client-fingerprint (\(relay.clientFingerprints.count) pinned)\(relay.clientAuth == .both ? " and the secret" : "; no secret needed")")
        }
        if !isLoopback(front.address) {
            say("veil relay: listening on \(front.address), which is not loopback: only clients with the secret are served")
        }
    }

    /// The connection token (address, fingerprint, secret) in HOME/relay-token (0600), anew at
    /// every start; shown once on the terminal when standard output is one. The log names the
    /// file, never the token (it holds the secret).
    private func writeToken(_ relay: RelayServerSettings, address listening: SocketAddress, fingerprint: [UInt8]) {
        let path = config.home + "/relay-token"
        let unspecified = listening.ipString == "0.0.0.0" || listening.ipString == "::"
        guard let address = relay.tokenAddress ?? (unspecified ? nil : listening),
              let pin = RelayFingerprint(bytes: fingerprint), !relay.secret.isEmpty else {
            unlink(path)
            say("veil relay: no connection token: listening on \(listening), give --token-address IP:PORT (the address clients reach this relay at) to have one written to \(path)")
            return
        }
        let token = RelayToken(address: address, fingerprint: pin, secret: relay.secret)
        do {
            try SecretFile.replace(path, with: token.text)
        } catch {
            say("veil relay: warning: \(error); no connection token")
            return
        }
        say("veil relay: connection token for \(address) in \(path) (mode 0600; clients: veil run --route tunnel --relay-token @FILE)")
        if isatty(1) == 1 {
            let line = Array("veil relay: connection token (shown once, it holds the secret): \(token.text)\n".utf8)
            _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        }
    }

    private func isLoopback(_ a: SocketAddress) -> Bool {
        let ip = a.ipString
        return ip.hasPrefix("127.") || ip == "::1"
    }

    private func say(_ line: String) { ProcessLog(format: config.logFormat).say(line) }
}

/// A detached helper thread for the control plane (never a ring thread).
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        if pthread_create(&tid, nil, { arg in
            guard let arg else { return nil }
            Unmanaged<Box>.fromOpaque(arg).takeRetainedValue().body()
            return nil
        }, box) == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<Box>.fromOpaque(box).release()
        }
    }
}
