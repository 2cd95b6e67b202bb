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
    private var accepting = false
    private(set) var shuttingDown = false
    private var acceptRetryPending = false
    private let perWorkerLimit: Int

    private static let opAccept: UInt8 = 1
    private static let opCancel: UInt8 = 2

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
        loop.acceptMultishot(handle, op: ProxyWorker.opAccept, fd: shared.listenFD)
    }

    func log(_ line: String) { recordLog.append(line) }

    func diagnostic(_ message: String) {
        var l = LogLine(event: "veil", format: config.logFormat)
        l.field("worker", loop.index)
        l.field("msg", message)
        diagnostics.append(l.finish())
    }

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard op == ProxyWorker.opAccept else { return }
        if result >= 0 {
            accepted(fd: result)
        } else if result != -ECANCELED {
            diagnostic("accept failed: \(SystemError.message(of: -result))")
        }
        if !more && accepting && !acceptRetryPending {
            // Multishot accept ended (error or resource limit): try again shortly, not in a spin.
            acceptRetryPending = true
            loop.setDeadline(handle, MonotonicClock.now() + 100_000_000)
        }
    }

    func deadlineExpired(loop: EventLoop) {
        acceptRetryPending = false
        if accepting { loop.acceptMultishot(handle, op: ProxyWorker.opAccept, fd: shared.listenFD) }
    }

    private func accepted(fd: Int32) {
        let id = shared.makeConnectionID()
        if shuttingDown || connections.count >= perWorkerLimit {
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
        let c = Connection(id: id, clientFD: fd, worker: self)
        connections[ObjectIdentifier(c)] = c
        c.start()
    }

    func connectionFinished(_ c: Connection) {
        connections[ObjectIdentifier(c)] = nil
        if shuttingDown && connections.isEmpty { loop.stop() }
    }

    /// Stops accepting; connections that have not started relaying are closed now, the others get
    /// until `graceDeadline`.
    func beginShutdown(graceDeadline: UInt64) {
        guard !shuttingDown else { return }
        shuttingDown = true
        accepting = false
        loop.setDeadline(handle, 0)
        loop.cancel(handle, op: ProxyWorker.opCancel, target: ProxyWorker.opAccept)
        for c in Array(connections.values) { c.shutdownRequested(graceDeadline: graceDeadline) }
        if connections.isEmpty { loop.stop() }
    }

    /// Closes every remaining connection now.
    func forceClose() {
        for c in Array(connections.values) { c.finish(CloseReason(.shutdown, "closed at shutdown")) }
        if connections.isEmpty { loop.stop() }
    }
}
