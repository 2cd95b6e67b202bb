import VeilRuntime
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// Starts the workers on a shared listening socket and runs until SIGINT/SIGTERM, then drains:
/// stop accepting, give live connections `grace` seconds, close the rest, return.
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
            recordLogFD = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard recordLogFD >= 0 else { throw SystemError("open record log \(path)") }
        }
        let listenFD = try Socket.listen(on: config.listen)
        let bound = Socket.localAddress(listenFD) ?? config.listen
        let chain = try ResolverFactory.make(config)
        var front: FrontListener?
        if let address = config.listenTLS, let interception {
            let fd = try Socket.listen(on: address)
            let bound = Socket.localAddress(fd) ?? address
            let ip = bound.ipString
            let name = config.listenTLSName ?? (ip == "0.0.0.0" || ip == "::" ? "localhost" : ip)
            do {
                front = try FrontListener(fd: fd, address: bound, name: name, interception: interception)
            } catch {
                Socket.close(fd)
                throw StartError("HTTPS listener certificate for \(name): \(error)")
            }
        }
        let shared = ProxyShared(config: config, resolver: chain, listenFD: listenFD, recordLogFD: recordLogFD,
                                 interception: interception, front: front)

        let group = try WorkerGroup(count: config.workers) { loop in
            let worker = ProxyWorker(loop: loop, shared: shared)
            loop.context = worker
            worker.start()
        }
        say("veil \(ProxyServer.version): listening on \(bound) (mode \(config.mode.rawValue), \(config.workers) worker\(config.workers == 1 ? "" : "s"), resolver \(chain.name), record log \(config.recordLog.rawValue))")
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
        if config.systemResolver {
            say("veil: warning: --resolver system uses plain DNS: names you visit are visible on the local network")
        }
        if !isLoopback(bound) {
            say("veil: warning: listening on \(bound), which is not loopback: anyone who can reach it can use this proxy")
        }

        let signal = WorkerGroup.waitForTerminationSignal()
        say("veil: \(signal == SIGINT ? "SIGINT" : "SIGTERM"): no longer accepting; live connections get \(config.grace)s")
        let graceDeadline = MonotonicClock.now() + config.grace.nanoseconds
        group.broadcast { loop in (loop.context as? ProxyWorker)?.beginShutdown(graceDeadline: graceDeadline) }
        // A second signal closes everything at once.
        Thread.detach {
            _ = WorkerGroup.waitForTerminationSignal()
            group.broadcast { loop in (loop.context as? ProxyWorker)?.forceClose() }
        }
        group.join()
        Socket.close(listenFD)
        if let front { Socket.close(front.fd) }
        if let interception {
            let s = interception.minter.stats()
            let mean = s.mints > 0 ? s.totalMintNanos / UInt64(s.mints) / 1000 : 0
            let hits = s.hits + interception.workerCacheHits.load(ordering: .relaxed)
            say("veil: certificates minted=\(s.mints) cache_hits=\(hits) mean_mint_us=\(mean)")
        }
        say("veil: stopped")
    }

    private func isLoopback(_ a: SocketAddress) -> Bool {
        let ip = a.ipString
        return ip.hasPrefix("127.") || ip == "::1"
    }

    private func say(_ line: String) {
        let text = line + "\n"
        _ = text.withCString { write(2, $0, strlen($0)) }
    }
}

/// A detached helper thread for the control plane (never a ring thread).
enum Thread {
    static func detach(_ body: @escaping @Sendable () -> Void) {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        if pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box) == 0 {
            pthread_detach(tid)
        } else {
            Unmanaged<Box>.fromOpaque(box).release()
        }
    }
}
