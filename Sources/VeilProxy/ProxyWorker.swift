import VeilRuntime
import VeilTLS
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// The proxy's state on one event loop: the acceptor and the connections it owns.
final class ProxyWorker: IOHandler {
    unowned let loop: EventLoop
    let shared: ProxyShared
    private(set) var handle = IOHandle.none
    let recordLog: LogWriter
    let diagnostics: LogWriter
    /// Minted certificates used on this worker (lock-free front of the shared minter).
    let certificates = WorkerCertificateCache()
    /// NSS key log lines (only when asked for).
    let keylog: LogWriter?
    /// Buffers big enough for one whole TLS record (header + largest body).
    let recordBuffers = BufferPool(bufferSize: TLSRecordHeader.size + TLSRecordHeader.maxLength)
    private var connections: [ObjectIdentifier: Connection] = [:]
    /// HTTPS listener fronts; each starts a connection once its TLS handshake is done.
    private var fronts: [ObjectIdentifier: TLSFront] = [:]
    /// `--route tunnel`: TLS connections to the relay, one per tunnelled connection.
    private var tunnels: [ObjectIdentifier: RelayTunnel] = [:]
    private var accepting = false
    private(set) var shuttingDown = false
    private var acceptRetryPending = false
    /// Which multishot accepts ended and wait for the retry.
    private var acceptEnded: Set<UInt8> = []
    private let perWorkerLimit: Int

    private static let opAccept: UInt8 = 1
    private static let opCancel: UInt8 = 2
    private static let opAcceptTLS: UInt8 = 3

    init(loop: EventLoop, shared: ProxyShared) {
        self.loop = loop
        self.shared = shared
        recordLog = loop.addLogWriter(fd: shared.recordLogFD)
        diagnostics = loop.addLogWriter(fd: 2)
        if let fd = shared.interception?.keylogFD, fd >= 0 { keylog = loop.addLogWriter(fd: fd) } else { keylog = nil }
        perWorkerLimit = max(1, shared.config.maxConnections / max(1, shared.config.workers))
    }

    var config: ProxyConfiguration { shared.config }
    var connectionCount: Int { connections.count }

    func start() {
        handle = loop.register(self)
        accepting = true
        if shared.listenFD >= 0 { loop.acceptMultishot(handle, op: ProxyWorker.opAccept, fd: shared.listenFD) }
        if let front = shared.front { loop.acceptMultishot(handle, op: ProxyWorker.opAcceptTLS, fd: front.fd) }
    }

    func log(_ line: String) { recordLog.append(line) }

    func diagnostic(_ message: String) {
        var l = LogLine(event: "veil", format: config.logFormat)
        l.field("worker", loop.index)
        l.field("msg", message)
        diagnostics.append(l.finish())
    }

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard op == ProxyWorker.opAccept || op == ProxyWorker.opAcceptTLS else { return }
        if result >= 0 {
            accepted(fd: result, tls: op == ProxyWorker.opAcceptTLS)
        } else if result != -ECANCELED {
            diagnostic("accept failed: \(SystemError.message(of: -result))")
        }
        if !more && accepting {
            // Multishot accept ended (error or resource limit): try again shortly, not in a spin.
            acceptEnded.insert(op)
            if !acceptRetryPending {
                acceptRetryPending = true
                loop.setDeadline(handle, MonotonicClock.now() + 100_000_000)
            }
        }
    }

    func deadlineExpired(loop: EventLoop) {
        acceptRetryPending = false
        guard accepting else { return }
        for op in acceptEnded {
            let fd = op == ProxyWorker.opAcceptTLS ? shared.front?.fd ?? -1 : shared.listenFD
            loop.acceptMultishot(handle, op: op, fd: fd)
        }
        acceptEnded.removeAll()
    }

    private func accepted(fd: Int32, tls: Bool) {
        let id = shared.makeConnectionID()
        // A front counts until its connection exists (then the connection counts).
        let opening = fronts.values.reduce(0) { $0 + ($1.connection == nil ? 1 : 0) }
        if shuttingDown || connections.count + opening >= perWorkerLimit {
            let peer = Socket.peerAddress(fd)?.description ?? "?"
            Socket.close(fd)
            var summary = ConnectionSummary(id: id, started: MonotonicClock.now(), client: peer, mode: config.mode)
            summary.close = shuttingDown
                ? CloseReason(.shutdown, "refused: shutting down")
                : CloseReason(.overloaded, "refused: \(perWorkerLimit) connections on this worker (--max-connections \(config.maxConnections))")
            if config.recordLog != .off { log(summary.line(format: config.logFormat, now: MonotonicClock.now())) }
            return
        }
        // Handshake records are forwarded one at a time: without NODELAY, Nagle and delayed ACK
        // would add a round trip's worth of waiting to every flight.
        Socket.setNoDelay(fd)
        if tls {
            let f = TLSFront(id: id, fd: fd, worker: self)
            fronts[ObjectIdentifier(f)] = f
            f.start()
            return
        }
        let c = Connection(id: id, clientFD: fd, worker: self)
        connections[ObjectIdentifier(c)] = c
        c.start()
    }

    /// A connection whose client side is an HTTPS listener front (`fd`: the front's socketpair).
    func startBridged(id: UInt64, fd: Int32, client: String, front: FrontInfo, started: UInt64) -> Connection {
        let c = Connection(id: id, clientFD: fd, worker: self, client: client, front: front, started: started)
        connections[ObjectIdentifier(c)] = c
        c.start()
        return c
    }

    /// A tunnel through the relay for `connection` (`fd`: the tunnel's end of the socketpair).
    func startTunnel(id: UInt64, fd: Int32, target: HostPort, relay: RelayEndpoint, connection: Connection) -> RelayTunnel {
        let t = RelayTunnel(id: id, bridgeFD: fd, target: target, relay: relay, connection: connection, worker: self)
        tunnels[ObjectIdentifier(t)] = t
        t.start()
        return t
    }

    /// The relay accepted a tunnel: a `TLSFront` in relay mode carries it from now on.
    func adoptTunnel(fd: Int32, engine: TLSEngine, bridgeFD: Int32, pending: [UInt8], peerName: String,
                     connection: Connection?, id: UInt64) -> TLSFront {
        let f = TLSFront(adopting: fd, engine: engine, bridgeFD: bridgeFD, pending: pending, peerName: peerName,
                         connection: connection, id: id, worker: self)
        fronts[ObjectIdentifier(f)] = f
        return f
    }

    func tunnelFinished(_ t: RelayTunnel) {
        tunnels[ObjectIdentifier(t)] = nil
        stopIfDrained()
    }

    func connectionFinished(_ c: Connection) {
        connections[ObjectIdentifier(c)] = nil
        stopIfDrained()
    }

    func frontFinished(_ f: TLSFront) {
        fronts[ObjectIdentifier(f)] = nil
        stopIfDrained()
    }

    private func stopIfDrained() {
        if shuttingDown && connections.isEmpty && fronts.isEmpty && tunnels.isEmpty { loop.stop() }
    }

    /// Stops accepting; connections that have not started relaying are closed now, the others get
    /// until `graceDeadline`.
    func beginShutdown(graceDeadline: UInt64) {
        guard !shuttingDown else { return }
        shuttingDown = true
        accepting = false
        loop.setDeadline(handle, 0)
        if shared.listenFD >= 0 { loop.cancel(handle, op: ProxyWorker.opCancel, target: ProxyWorker.opAccept) }
        if shared.front != nil { loop.cancel(handle, op: ProxyWorker.opCancel, target: ProxyWorker.opAcceptTLS) }
        for c in Array(connections.values) { c.shutdownRequested(graceDeadline: graceDeadline) }
        for f in Array(fronts.values) { f.shutdownRequested() }
        stopIfDrained()
    }

    /// Closes every remaining connection now.
    func forceClose() {
        for c in Array(connections.values) { c.finish(CloseReason(.shutdown, "closed at shutdown")) }
        for f in Array(fronts.values) { f.finish(CloseReason(.shutdown, "closed at shutdown")) }
        for t in Array(tunnels.values) { t.finish(CloseReason(.shutdown, "closed at shutdown")) }
        stopIfDrained()
    }
}
