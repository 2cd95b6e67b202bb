import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The HTTPS proxy listener (`--listen-tls`): terminates the TLS a client speaks to the proxy
/// itself, then hands the plaintext (the CONNECT request and the tunnel after it) to an ordinary
/// `Connection` through a socketpair, so everything a plain-listener connection does works the
/// same way inside.
///
/// client --TLS(outer)--> TLSFront <--socketpair--> Connection --> upstream
///
/// The outer session runs on kTLS when the kernel offers it (records are then read with
/// recvmsg, so close_notify and alerts are seen as such), else in userspace OpenSSL. The
/// connection's summary line carries `front_tls` and `front_path`; a front that fails before
/// its connection exists writes the one summary line itself.
final class TLSFront: IOHandler {
    enum Op: UInt8 {
        case clientRecv = 1, clientSend, clientShutdown, bridgeRecv, bridgeSend, bridgeShutdown, cancel
    }

    /// `failing`: a handshake failure's alert goes out; `alerting`: after the connection started,
    /// a fatal alert for a record Veil refused goes out (the connection has ended already).
    enum Phase { case handshake, failing, relay, alerting, closing }

    let id: UInt64
    unowned let worker: ProxyWorker
    let fd: Int32
    let peer: String
    let started: UInt64
    var handle = IOHandle.none
    var phase = Phase.handshake
    var engine: TLSEngine?
    var scanner = RecordScanner(collectBodies: false)
    /// Our end of the socketpair; the connection has the other.
    var bridgeFD: Int32 = -1
    weak var connection: Connection?
    /// The outer session runs on kTLS.
    var kernel = false
    var ktlsNote: String?
    var failure: CloseReason?
    /// A relay tunnel's session handed over by `RelayTunnel` (else the HTTPS listener's).
    var adoptedTunnel = false
    /// The summary line of this front's connection, once it has ended: written when this
    /// front (and any other still carrying the connection) ends.
    var pendingSummary: PendingSummary?
    /// How this front counts against `--max-connections` (a tunnel's front does not: its
    /// connection does).
    let accounting: Connection.Accounting
    /// Why the connection inside is to answer 503 (over the limit, shutting down).
    let refusal: CloseReason?

    // Veil's own record layer in userspace (see TLSFront+RecordLayer).
    var sealer: RecordCipher?
    var opener: RecordCipher?
    var takeoverPending = false
    /// Plaintext moved through OpenSSL before the takeover (both directions).
    var opensslRelayed = 0

    // Client -> bridge: plaintext in `up` (userspace) or in `upMessage` (kTLS recvmsg).
    var up: UnsafeMutableRawPointer?
    var upMessage: TLSRecordMessage?
    var upFilled = 0
    var upSent = 0
    var clientReceiving = false
    var bridgeSending = false
    /// Nothing more will come from the client (EOF or close_notify); the bridge's write side is shut.
    var clientDone = false
    var bridgeWriteShut = false

    // Bridge -> client: plaintext read from the bridge into `down`, encrypted (userspace) or sent
    // as is to the kTLS socket.
    var down: UnsafeMutableRawPointer?
    var downMessage: TLSRecordMessage?
    var downFilled = 0
    var downSent = 0
    var bridgeReceiving = false
    var clientSending = false
    var bridgeDone = false
    var closeQueued = false
    var clientShutting = false
    var clientWriteShut = false
    /// The connection said the end it passed on to the bridge was authenticated (an intercepted
    /// leg's close_notify, or Veil's own complete answer): only then does the bridge's EOF become
    /// close_notify on the outer session; otherwise a bare FIN (see TLSFront+Transfer).
    var bridgeEndAuthenticated = false

    /// Who is at the other end of the TLS socket, for reasons: the client, or (a tunnel handed
    /// over by `RelayTunnel`) the relay; and how its failures close the connection.
    var peerName = "client (HTTPS listener)"
    var peerGone = CloseReason.Kind.clientGone

    var loop: EventLoop { worker.loop }
    var config: ProxyConfiguration { worker.config }

    /// An HTTPS-listener client. With a `refusal` (over the limit, shutting down) the front
    /// still runs the handshake, and its connection answers 503 with the reason inside TLS.
    init(id: UInt64, fd: Int32, worker: ProxyWorker, refusal: CloseReason?) {
        self.id = id
        self.fd = fd
        self.worker = worker
        self.refusal = refusal
        accounting = refusal == nil ? .admitted : .refused
        started = MonotonicClock.now()
        peer = Socket.peerAddress(fd)?.description ?? "?"
    }

    /// Takes over an established TLS session on `fd` whose plaintext goes to `bridgeFD` (the
    /// relay tunnel once the relay answered 200): moves it onto kTLS where possible, then
    /// relays. `pending` is plaintext already read for the bridge.
    init(adopting fd: Int32, engine: TLSEngine, bridgeFD: Int32, pending: [UInt8], peerName: String,
         connection: Connection?, id: UInt64, worker: ProxyWorker) {
        self.id = id
        self.fd = fd
        self.worker = worker
        self.engine = engine
        self.bridgeFD = bridgeFD
        self.peerName = peerName
        self.connection = connection
        peerGone = .relayFailed
        adoptedTunnel = true
        accounting = .front
        refusal = nil
        started = MonotonicClock.now()
        peer = peerName
        phase = .relay
        handle = worker.loop.register(self)
        connection?.upstreamFront = self
        up = worker.recordBuffers.take()
        down = worker.recordBuffers.take()
        if !pending.isEmpty, let up {
            pending.withUnsafeBytes { if let p = $0.baseAddress { up.copyMemory(from: p, byteCount: $0.count) } }
            upFilled = pending.count
        } else if !engine.hasInput {
            // Nothing of the tunnel is inside OpenSSL: the session can move to the kernel.
            moveOntoKernel(engine, note: "tunnel")
        } else {
            ktlsNote = "tunnel: data after the relay's answer was already inside OpenSSL"
        }
        if let e = self.engine { startUserspaceRecords(e) }
    }

    func adopted() { relayStep() }

    /// Installs kTLS on `fd` for `e`'s session where the kernel and cipher allow; on success the
    /// engine is released. Otherwise `ktlsNote` says why not.
    func moveOntoKernel(_ e: TLSEngine, note: String) {
        guard worker.shared.kernelTLS.isAvailable else { return }
        switch e.kernelKeys() {
        case .keys(let tx, let rx):
            if let error = KernelTLS.install(fd: fd, transmit: tx, receive: rx) {
                ktlsNote = "\(note): \(error)"
            } else {
                kernel = true
                e.handOver()
                engine = nil
            }
        case .unsupported(let why):
            ktlsNote = "\(note): \(why)"
        }
    }

    /// A failed socket operation on the TLS side, as the connection's close reason.
    func peerFailed(_ result: Int32) -> CloseReason {
        peerGone == .clientGone ? .peerFailed(client: true, result: result)
            : CloseReason(peerGone, "\(peerName): \(SystemError.message(of: -result))")
    }

    func start() {
        handle = loop.register(self)
        loop.setDeadline(handle, MonotonicClock.now() + config.handshakeTimeout.nanoseconds)
        guard let front = worker.shared.front else { finish(CloseReason(.error, "no HTTPS listener set-up")); return }
        do {
            let e = try TLSEngine(context: front.context, role: .server,
                                  inboundCapacity: 64 << 10, outboundCapacity: 64 << 10)
            try front.configure(e)
            if let keylog = worker.keylog { e.onKeyLog = { line in keylog.append(line + "\n") } }
            engine = e
        } catch {
            finish(CloseReason(.error, "HTTPS listener TLS set-up: \(error)"))
            return
        }
        receiveHandshake()
    }

    // MARK: Completions

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard phase != .closing, let op = Op(rawValue: op) else { return }
        switch op {
        case .cancel, .bridgeShutdown: break
        case .clientRecv:
            clientReceiving = false
            engine?.inbound.pinned = false
            if phase == .handshake { handshakeReceived(result) } else { clientReceived(result) }
        case .clientSend:
            clientSending = false
            engine?.outbound.pinned = false
            clientSent(result)
        case .clientShutdown: clientWriteShutDone()
        case .bridgeRecv: bridgeReceived(result)
        case .bridgeSend: bridgeSent(result)
        }
    }

    func deadlineExpired(loop: EventLoop) {
        switch phase {
        case .handshake, .failing:
            if worker.shuttingDown && MonotonicClock.now() >= worker.graceDeadline {
                finish(CloseReason(.shutdown, "HTTPS listener: TLS handshake not complete when the grace period of \(Int(config.grace))s ended"))
            } else {
                finish(CloseReason(.handshakeTimeout, "HTTPS listener: TLS handshake not complete within \(Int(config.handshakeTimeout))s"))
            }
        case .relay:
            finish(CloseReason(.ok, "\(peerName) did not close within 2s of Veil's end"))
        case .alerting:
            finish(failure ?? CloseReason(.error, "alert not sent within 1s"))
        default:
            break
        }
    }

    /// Shutdown began: a front still in its handshake may finish it within the grace period
    /// (its connection then answers 503); a relaying one ends with its connection, which has
    /// the grace period.
    func shutdownRequested(graceDeadline: UInt64) {
        if phase == .handshake || phase == .failing {
            loop.setDeadline(handle, min(started + config.handshakeTimeout.nanoseconds, graceDeadline))
        }
    }

    // MARK: Handshake

    private func receiveHandshake() {
        guard let e = engine, !clientReceiving else { return }
        // Record by record: at the end nothing past the handshake is inside OpenSSL, so the
        // session can move to kTLS with exact sequence numbers.
        guard loop.recv(handle, op: Op.clientRecv.rawValue, fd: fd, into: e.inbound, max: scanner.bytesToBoundary) > 0 else {
            finish(CloseReason(.handshakeFailed, "HTTPS listener: handshake record too large"))
            return
        }
        clientReceiving = true
    }

    private func handshakeReceived(_ result: Int32) {
        guard let e = engine else { return }
        if result == -EAGAIN || result == -EINTR { receiveHandshake(); return }
        if result < 0 { finish(.peerFailed(client: true, result: result)); return }
        if result == 0 { finish(CloseReason(.clientGone, "client closed during the HTTPS listener's TLS handshake")); return }
        let start = e.inbound.base + e.inbound.writeIndex
        let bytes = UnsafeRawBufferPointer(start: start, count: Int(result))
        let firstBytes = e.inbound.readable == 0 && scanner.atBoundary && e.version == nil
        e.inbound.didWrite(Int(result))
        do {
            try scanner.feed(bytes) { _ throws(TLSParseError) in }
        } catch {
            if firstBytes, let b = bytes.first, (0x41...0x5a).contains(b) {
                answerPlainHTTP()
            } else {
                finish(CloseReason(.notTLS, "HTTPS listener: client did not speak TLS (\(error))"))
            }
            return
        }
        if scanner.atBoundary { driveHandshake() } else { receiveHandshake() }
    }

    private func driveHandshake() {
        guard let e = engine else { return }
        switch e.handshake() {
        case .needsInput:
            flushClient()
            receiveHandshake()
        case .complete:
            established(e)
        case .failed(let reason):
            // Send the alert OpenSSL queued, then end.
            failure = CloseReason(.handshakeFailed, "HTTPS listener: client handshake: \(reason)")
            phase = .failing
            if e.outbound.readable > 0 { flushClient() } else { finish(failure ?? CloseReason(.handshakeFailed, "HTTPS listener: handshake failed")) }
        }
    }

    /// Plain HTTP on the TLS port: a readable answer instead of a TLS alert.
    private func answerPlainHTTP() {
        let text = HTTPStatusResponse(status: .badRequest,
            reason: "this is Veil's HTTPS proxy listener: speak TLS to it (curl -x https://HOST:PORT --proxy-cacert <Veil CA>) or use the plain listener").bytes
        failure = CloseReason(.notTLS, "HTTPS listener: client spoke plain HTTP")
        phase = .failing
        guard let e = engine, e.outbound.writable >= text.count, let failure else {
            finish(CloseReason(.notTLS, "HTTPS listener: client spoke plain HTTP"))
            return
        }
        guard e.outbound.append(text) == text.count else { finish(failure); return }
        flushClient()
    }

    /// The outer handshake is done: move it onto kTLS when possible and start the connection.
    func established(_ e: TLSEngine) {
        // TLS 1.3 session tickets from the final handshake step go out first.
        if e.outbound.readable > 0 {
            phase = .handshake
            flushClient()
            return
        }
        loop.setDeadline(handle, 0)
        moveOntoKernel(e, note: "front")
        let pair: (Int32, Int32)
        do { pair = try Socket.pair() } catch {
            finish(CloseReason(.error, "HTTPS listener: \(error)"))
            return
        }
        bridgeFD = pair.1
        let info = FrontInfo(tls: e.version ?? "?", cipher: e.cipher ?? "?",
                             path: kernel ? .ktls : .userspace, note: ktlsNote)
        phase = .relay
        up = worker.recordBuffers.take()
        down = worker.recordBuffers.take()
        connection = worker.startBridged(id: id, fd: pair.0, client: peer, front: info, started: started,
                                         refusal: refusal)
        connection?.clientFront = self
        if let engine { startUserspaceRecords(engine) }
        relayStep()
    }

    // MARK: Closing

    /// Ends the front. Before its connection exists the front writes the summary line; after,
    /// a failure of the outer session ends the connection with that reason.
    func finish(_ reason: CloseReason) {
        guard phase != .closing else { return }
        let hadConnection = phase == .relay || phase == .alerting
        phase = .closing
        if let c = connection {
            // A connection that already answered with an error keeps that reason (a client
            // that resets after reading a 407 must not turn it into client-gone).
            if reason.kind != .ok { c.finish(c.closingReason ?? reason) }
        } else if !hadConnection, config.recordLog != .off {
            var s = ConnectionSummary(id: id, started: started, client: peer, mode: config.mode)
            s.front = FrontInfo(tls: engine?.version ?? "-", cipher: engine?.cipher ?? "-", path: nil, note: nil)
            s.close = reason
            worker.log(s.line(format: config.logFormat, now: MonotonicClock.now()))
        }
        loop.retire(handle, cancelling: [fd, bridgeFD])
    }

    /// Nothing of this front is in flight any more (see `EventLoop.retire`).
    func finalize(loop: EventLoop) {
        Socket.close(fd)
        Socket.close(bridgeFD)
        if let b = up { worker.recordBuffers.give(b); up = nil }
        if let b = down { worker.recordBuffers.give(b); down = nil }
        upMessage = nil
        downMessage = nil
        engine = nil
        switch accounting {
        case .admitted: worker.shared.admission.leave()
        case .refused: worker.refusalFinished()
        case .front: break
        }
        pendingSummary?.release(worker)
        pendingSummary = nil
        worker.frontFinished(self)
    }
}

/// What the summary line says about the HTTPS listener's outer TLS session.
struct FrontInfo {
    let tls: String
    let cipher: String
    /// Nil when the connection never got past the outer handshake.
    let path: ConnectionSummary.DataPath?
    /// Why the outer session is not on kTLS, when kTLS was wanted.
    let note: String?
    /// In userspace: who protected the outer records (veil or openssl), and why not veil.
    var records: String? = nil
    var recordsNote: String? = nil
    /// How the client ended the outer session (see StreamEnd).
    var end: StreamEnd? = nil
}
