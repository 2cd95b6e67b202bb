import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
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
    /// What this worker's connections consult while admitting and routing a request (with the
    /// proxy credentials that passed on this worker, `--auth`).
    let requestPolicy: RequestPolicy
    /// This worker's counters for `--metrics`.
    let metrics = WorkerMetrics()
    /// NSS key log lines (only when asked for).
    let keylog: LogWriter?
    /// Buffers big enough for one whole TLS record (header + largest body).
    let recordBuffers = BufferPool(bufferSize: TLSRecordHeader.size + TLSRecordHeader.maxLength)
    /// Free record buffers the pool keeps once a burst is over (it caches up to 256 meanwhile).
    static let recordBuffersAfterBurst = 16
    /// The action lists the connections' machines fill, lent per event.
    let actionLists = ActionLists()
    /// Empty splice pipes for the next pass-through (or kTLS) connections.
    let pipePool = PipePool(limit: ProxyWorker.pooledPipes)
    /// Pipes the pool keeps (two per connection): enough for a steady stream of new
    /// connections, bounded because each counts against the user's pipe pages.
    static let pooledPipes = 64
    /// Pooled pipes kept once a burst is over: none, so that an idle Veil holds no more
    /// descriptors than it started with (t52's soak checks it).
    static let pooledPipesAfterBurst = 0
    private var connections: [ObjectIdentifier: Connection] = [:]
    /// HTTPS listener fronts; each starts a connection once its TLS handshake is done.
    private var fronts: [ObjectIdentifier: TLSFront] = [:]
    /// `--route tunnel`: which relay new tunnels go to, and which are down (and for how long).
    var relayChoice: RelayChoice
    /// `veil relay`: HTTP/2 connections from clients, each carrying CONNECT streams.
    private var h2Sessions: [ObjectIdentifier: H2RelaySession] = [:]
    /// `--route tunnel`: TLS connections to the relay, one per tunnelled connection.
    private var tunnels: [ObjectIdentifier: RelayTunnel] = [:]
    /// `--relay-mux on`: per relay (its index in `config.relays`) the connection new tunnels go
    /// on, every connection still open (draining ones too), and the tunnels on them.
    var relayMux: [Int: RelayMux] = [:]
    var relayMuxes: [ObjectIdentifier: RelayMux] = [:]
    var muxStreams: [ObjectIdentifier: RelayMuxStream] = [:]
    /// Name queries on those connections (`RelayMuxQueries`), kept until they end.
    var relayQueries: [ObjectIdentifier: RelayMuxQuery] = [:]
    /// Multishot accepts are to run (until the drained worker stops them).
    private var accepting = false
    private(set) var shuttingDown = false
    private(set) var graceDeadline: UInt64 = 0
    /// When a multishot accept that ended is started again (0: none pending).
    private var acceptRetryAt: UInt64 = 0
    private var heapTrim = HeapTrim()
    /// Which multishot accepts are running (their final completion has not come yet).
    private var acceptsRunning: Set<UInt8> = []
    /// Which multishot accepts ended and wait for the retry.
    private var acceptEnded: Set<UInt8> = []
    /// Shutdown: this worker has told the drain quorum that its connections have all ended.
    private var saidDrained = false
    /// Shutdown: every worker has drained; accepting stops now (`stopAccepting`).
    private var acceptsReleased = false
    /// Connections answering `503` (over the limit, or while shutting down) right now: past
    /// `maxRefusing` a refused client is closed at once (still with its summary line).
    private var refusing = 0
    private static let maxRefusing = 256
    /// Lingering connections read what their client still sends into this one buffer and
    /// throw it away (contents never looked at), so a refusal holds no buffer of its own.
    let discard = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 16)

    private static let opAccept: UInt8 = 1
    private static let opCancel: UInt8 = 2
    private static let opAcceptTLS: UInt8 = 3

    init(loop: EventLoop, shared: ProxyShared) {
        self.loop = loop
        self.shared = shared
        relayChoice = RelayChoice(count: shared.config.relays.count)
        recordLog = loop.addLogWriter(fd: shared.recordLogFD, notices: shared.config.logFormat)
        diagnostics = loop.addLogWriter(fd: 2, notices: shared.config.logFormat)
        if let fd = shared.interception?.keylogFD, fd >= 0 { keylog = loop.addLogWriter(fd: fd, notices: nil) } else { keylog = nil }
        requestPolicy = RequestPolicy(config: shared.config, gate: shared.relayGate, authenticator: shared.authenticator,
                                      kernelTLS: shared.interception?.kernelTLS, parser: shared.parser,
                                      resolverName: shared.resolver.name, ttlHint: RequestPolicy.ttlHint(shared.resolver))
    }

    deinit { discard.deallocate() }

    var config: ProxyConfiguration { shared.config }
    var connectionCount: Int { connections.count }

    func start() {
        handle = loop.register(self)
        accepting = true
        startAccepts()
    }

    private func startAccepts() {
        startAccept(ProxyWorker.opAccept)
        startAccept(ProxyWorker.opAcceptTLS)
    }

    /// This worker's own listening socket for `op` (-1: that listener is off).
    private func listener(_ op: UInt8) -> Int32 {
        let fds = op == ProxyWorker.opAcceptTLS ? shared.front?.fds ?? [] : shared.listenFDs
        return fds.indices.contains(loop.index) ? fds[loop.index] : -1
    }

    private func startAccept(_ op: UInt8) {
        let fd = listener(op)
        guard fd >= 0, !acceptsRunning.contains(op) else { return }
        acceptsRunning.insert(op)
        loop.acceptMultishot(handle, op: op, fd: fd)
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
        guard !more else { return }
        acceptsRunning.remove(op)
        if accepting {
            // Multishot accept ended (error or resource limit): try again shortly, not in a spin.
            acceptEnded.insert(op)
            if acceptRetryAt == 0 {
                acceptRetryAt = MonotonicClock.now() + 100_000_000
                armDeadline()
            }
        }
        stopIfDrained()
    }

    func deadlineExpired(loop: EventLoop) {
        let now = MonotonicClock.now()
        if heapTrim.due(now: now) {
            // The burst is over: the pool keeps what a few connections need, the heap gives the
            // rest back.
            recordBuffers.shrink(keeping: ProxyWorker.recordBuffersAfterBurst)
            pipePool.shrink(keeping: ProxyWorker.pooledPipesAfterBurst)
            MallocTuning.releaseFreeMemory()
        }
        if acceptRetryAt != 0, now >= acceptRetryAt {
            acceptRetryAt = 0
            if accepting {
                for op in acceptEnded { startAccept(op) }
                acceptEnded.removeAll()
            }
        }
        armDeadline()
    }

    /// The worker's one deadline: the accept retry or the heap trim (not while shutting down),
    /// whichever comes first.
    private func armDeadline() {
        var next = acceptRetryAt
        if !shuttingDown, let t = heapTrim.nextCheck, next == 0 || t < next { next = t }
        loop.setDeadline(handle, next)
    }

    private func accepted(fd: Int32, tls: Bool) {
        let id = shared.makeConnectionID()
        metrics.accepted(tls: tls)
        // Handshake records are forwarded one at a time: without NODELAY, Nagle and delayed ACK
        // would add a round trip's worth of waiting to every flight.
        Socket.setNoDelay(fd)
        var refusal: CloseReason?
        if shuttingDown {
            refusal = CloseReason(.shutdown, "refused: proxy shutting down")
        } else if !shared.admission.admit() {
            refusal = CloseReason(.overloaded, "refused: \(shared.admission.limit) connections open (--max-connections)")
        }
        if let refusal, refusing >= ProxyWorker.maxRefusing {
            // Too many refusals at once to answer each: close, but still account for it.
            let peer = Socket.peerAddress(fd)?.description ?? "?"
            Socket.close(fd)
            var summary = ConnectionSummary(id: id, started: MonotonicClock.now(), client: peer, mode: config.mode)
            summary.close = CloseReason(refusal.kind, refusal.reason + "; closed without an answer (\(ProxyWorker.maxRefusing) refusals under way)")
            if config.recordLog != .off { log(summary.line(format: config.logFormat, now: MonotonicClock.now())) }
            return
        }
        if refusal != nil { refusing += 1 }
        if tls {
            // A refused client of the HTTPS listener hears its 503 inside TLS, from the front's
            // connection.
            let f = TLSFront(id: id, fd: fd, worker: self, refusal: refusal)
            fronts[ObjectIdentifier(f)] = f
            f.start()
            return
        }
        let c = Connection(id: id, clientFD: fd, worker: self, admitted: refusal == nil)
        connections[ObjectIdentifier(c)] = c
        c.start(refusal: refusal)
    }

    /// A connection whose client side is an HTTPS listener front (`fd`: the front's socketpair).
    /// `refusal`: the front was refused (over the limit, shutting down); the connection answers 503.
    func startBridged(id: UInt64, fd: Int32, client: String, front: FrontInfo, started: UInt64,
                      refusal: CloseReason?) -> Connection {
        let c = Connection(id: id, clientFD: fd, worker: self, client: client, front: front, started: started)
        connections[ObjectIdentifier(c)] = c
        c.start(refusal: refusal ?? (shuttingDown ? CloseReason(.shutdown, "refused: proxy shutting down") : nil))
        return c
    }

    /// A connection's summary line, written and counted.
    func connectionSummary(_ summary: ConnectionSummary, upstreamHandshakeNanos: UInt64) {
        if config.recordLog != .off { log(summary.line(format: config.logFormat, now: MonotonicClock.now())) }
        metrics.connectionEnded(summary, upstreamHandshakeNanos: upstreamHandshakeNanos)
    }

    /// This worker's counters, copied for a scrape (on the ring thread).
    func metricsSnapshot() -> WorkerMetrics.Snapshot {
        metrics.snapshot(worker: loop.index, openConnections: connections.count, openFronts: fronts.count)
    }

    /// A refused connection (or front) has ended.
    func refusalFinished() {
        refusing -= 1
    }

    /// A tunnel through relay `relay` (an index into `config.relays`) for `connection` (`fd`: the
    /// tunnel's end of the socketpair); `tried`: the relays tried before (bits, this one's too).
    func startTunnel(id: UInt64, fd: Int32, target: HostPort, relay: Int, tried: UInt64, connection: Connection) -> RelayTunnel {
        let t = RelayTunnel(id: id, bridgeFD: fd, target: target, relayIndex: relay, tried: tried, connection: connection, worker: self)
        tunnels[ObjectIdentifier(t)] = t
        t.start()
        return t
    }

    /// The relay accepted a tunnel: a `TLSFront` in relay mode carries it from now on.
    func adoptTunnel(fd: Int32, engine: TLSEngine, bridgeFD: Int32, pending: [UInt8], relayAddress: String,
                     connection: Connection?, id: UInt64) -> TLSFront {
        let f = TLSFront(adopting: fd, engine: engine, bridgeFD: bridgeFD, pending: pending, relayAddress: relayAddress,
                         connection: connection, id: id, worker: self)
        fronts[ObjectIdentifier(f)] = f
        return f
    }

    /// `--relay-mux on`: a tunnel as a stream on this worker's relay connection.
    func startMuxTunnel(id: UInt64, fd: Int32, target: HostPort, relay: Int, connection: Connection) -> RelayMuxStream {
        let s = RelayMuxStream(id: id, bridgeFD: fd, target: target, relayIndex: relay, connection: connection, worker: self)
        muxStreams[ObjectIdentifier(s)] = s
        s.start()
        return s
    }

    func muxStreamFinished(_ s: RelayMuxStream) {
        muxStreams[ObjectIdentifier(s)] = nil
        stopIfDrained()
    }

    func relayMuxFinished(_ m: RelayMux) {
        relayMuxes[ObjectIdentifier(m)] = nil
        if relayMux[m.relayIndex] === m { relayMux[m.relayIndex] = nil }
        stopIfDrained()
    }

    /// veil relay: an HTTP/2 connection on `fd` (the front's bridge), its streams bridged
    /// connections of their own.
    func startH2Relay(fd: Int32, front: TLSFront, client: String, info: FrontInfo, refusal: CloseReason?) {
        let s = H2RelaySession(fd: fd, worker: self, front: front, client: client, frontInfo: info, refusal: refusal)
        h2Sessions[ObjectIdentifier(s)] = s
        s.start()
    }

    func h2SessionFinished(_ s: H2RelaySession) {
        h2Sessions[ObjectIdentifier(s)] = nil
        stopIfDrained()
    }

    func tunnelFinished(_ t: RelayTunnel) {
        tunnels[ObjectIdentifier(t)] = nil
        stopIfDrained()
    }

    func connectionFinished(_ c: Connection) {
        connections[ObjectIdentifier(c)] = nil
        heapTrim.connectionEnded(now: MonotonicClock.now())
        armDeadline()
        stopIfDrained()
    }

    func frontFinished(_ f: TLSFront) {
        fronts[ObjectIdentifier(f)] = nil
        stopIfDrained()
    }

    /// Once shutting down and nothing is left, tells the drain quorum; once every worker has
    /// drained (`stopAccepting`), stops accepting and then the loop. Until then this worker keeps
    /// answering 503 on its own listener. The loop stops only after every accept has delivered
    /// its last completion, so a connection the kernel handed over meanwhile is answered (503)
    /// rather than lost.
    private func stopIfDrained() {
        guard shuttingDown, connections.isEmpty, fronts.isEmpty, tunnels.isEmpty, muxStreams.isEmpty, h2Sessions.isEmpty else { return }
        for m in Array(relayMuxes.values) { m.shutdown() }
        guard relayMuxes.isEmpty else { return }
        if !saidDrained {
            saidDrained = true
            shared.drainQuorum.drained()
        }
        guard acceptsReleased else { return }
        if accepting {
            accepting = false
            loop.setDeadline(handle, 0)
            for op in acceptsRunning { loop.cancel(handle, op: ProxyWorker.opCancel, target: op) }
        }
        if acceptsRunning.isEmpty {
            pipePool.releaseAll()
            loop.stop()
        }
    }

    /// Keeps accepting, but every new client is answered 503; connections still setting up are
    /// answered 503 now; relaying ones get until `graceDeadline`.
    func beginShutdown(graceDeadline: UInt64) {
        guard !shuttingDown else { return }
        shuttingDown = true
        self.graceDeadline = graceDeadline
        for c in Array(connections.values) { c.shutdownRequested(graceDeadline: graceDeadline) }
        for f in Array(fronts.values) { f.shutdownRequested(graceDeadline: graceDeadline) }
        for s in Array(h2Sessions.values) { s.shutdownRequested() }
        stopIfDrained()
    }

    /// Every worker has drained: stop accepting (once this worker's last connections end).
    func stopAccepting() {
        acceptsReleased = true
        stopIfDrained()
    }

    /// Closes every remaining connection now.
    func forceClose() {
        for c in Array(connections.values) { c.finish(CloseReason(.shutdown, "closed at shutdown")) }
        for f in Array(fronts.values) { f.finish(CloseReason(.shutdown, "closed at shutdown")) }
        for t in Array(tunnels.values) { t.finish(CloseReason(.shutdown, "closed at shutdown")) }
        for s in Array(h2Sessions.values) { s.finish() }
        stopIfDrained()
    }
}
