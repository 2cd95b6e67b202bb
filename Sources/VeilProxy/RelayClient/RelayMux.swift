import VeilHTTP2
import VeilResolver
import VeilRuntime
import VeilTLS
import VeilWire
#if canImport(Glibc)
import Glibc
#endif

/// `--relay-mux on`: one TLS connection from this worker to the relay carrying every tunnel as
/// an HTTP/2 CONNECT stream (RFC 9113 section 8.5). The owner, on the ring thread, of the
/// socket, the TLS session (pinned by fingerprint as `RelayTunnelMachine` pins it, ALPN `h2`)
/// and an `H2ConnectionMachine`, which decides everything HTTP/2. Each stream is a tunnel (its
/// bridge a `RelayMuxStream`'s) or a name query (`RelayMuxQuery`: the relay's RESOLVE for the
/// resolver, so that lookups show no relay connection of their own).
///
/// Staying up: a PING every `relay-keepalive`; `relay-dead-after` of them unanswered, a read or
/// send failure, or the relay closing make the connection lost: its streams fail (those not
/// answered yet with 502 and the reason), `relay down: ...` is logged, and the worker makes the
/// next connection after a backoff (0.25 s doubling to 30 s, with jitter). A GOAWAY from the
/// relay lets the streams it took finish here while new tunnels go to a new connection.
/// The connection's life (connect, handshake, pin, keepalive, drain, loss) is decided by a
/// `RelayLinkMachine`; this performs its actions.
final class RelayMux: IOHandler {
    enum Op: UInt8 { case connect = 1, recv, send }

    /// The `relay_conn=` id (from the connection id counter, so unique in the process).
    let id: UInt64
    unowned let worker: ProxyWorker
    var link: RelayLinkMachine
    var fd: Int32 = -1
    var handle = IOHandle.none
    var engine: TLSEngine?
    var h2 = H2ConnectionMachine(.init(role: .client))
    var actions: [H2ConnectionMachine.Action] = []
    var spareActions: [H2ConnectionMachine.Action] = []
    let connectSlot = AddressSlot()
    /// Plaintext out of TLS, one read at a time.
    let plain: UnsafeMutableRawPointer
    static let plainSize = 16 << 10
    var receiving = false
    var sending = false
    /// Streams by id, and those waiting for the connection to be up (or for a stream).
    var streams: [UInt32: any RelayMuxCarried] = [:]
    var waiting: [any RelayMuxCarried] = []
    /// Streams carried so far (for the log).
    var carried = 0
    /// The relay on this connection does not answer RESOLVE (not a veil relay: say nghttpx),
    /// and why: name queries fail at once instead of asking again.
    var resolveUnanswered: String?
    let connectAt: UInt64

    /// Which of `config.relays` this connects to.
    let relayIndex: Int
    var relay: RelayEndpoint { worker.config.relays[relayIndex] }

    init(id: UInt64, relayIndex: Int, worker: ProxyWorker, connectAt: UInt64) {
        self.id = id
        self.relayIndex = relayIndex
        self.worker = worker
        self.connectAt = connectAt
        let relay = worker.config.relays[relayIndex]
        link = RelayLinkMachine(settings: .init(
            relay: "\(relay.address)", fingerprint: relay.fingerprint, connectTimeout: worker.config.connectTimeout,
            keepalive: worker.config.relayKeepalive, deadAfter: worker.config.relayDeadAfter))
        plain = .allocate(byteCount: Self.plainSize, alignment: 16)
        actions.reserveCapacity(16)
    }

    var loop: EventLoop { worker.loop }
    /// HTTP/2 runs on the connection (up, or draining).
    var isUp: Bool { link.isUp }
    /// No new stream may go on this connection.
    var isRetiring: Bool { link.isRetiring || h2.isGoingAway }

    func start() {
        handle = loop.register(self)
        on(.start(now: MonotonicClock.now(), connectAt: connectAt))
    }

    // MARK: Streams

    func attach(_ s: any RelayMuxCarried) {
        s.mux = self
        if isUp { open(s) } else { waiting.append(s) }
    }

    private func open(_ s: any RelayMuxCarried) {
        let auth = HPACKHeader(name: "proxy-authorization", value: "Bearer \(relay.secret)")
        do {
            let sid = try h2.openStream(method: s.method, authority: s.authority, extra: [auth] + s.fields,
                                        endStream: s.endsRequest)
            s.streamID = sid
            streams[sid] = s
            carried += 1
            flush()
        } catch .tooManyStreams {
            // The relay's SETTINGS_MAX_CONCURRENT_STREAMS: it waits for a stream to end.
            waiting.append(s)
        } catch {
            // Going away or out of stream ids: the next connection takes it.
            on(.cannotOpen)
            s.mux = nil
            s.reattach()
        }
    }

    /// Tunnels held back by the relay's stream limit, once a stream has ended.
    private func openWaiting() {
        guard isUp, !waiting.isEmpty, h2.openStreams < h2.peerMaxConcurrentStreams else { return }
        let s = waiting.removeFirst()
        open(s)
    }

    /// The stream's owner ended (normally, or its connection left or timed out): a stream the
    /// machine still has open is reset, so that it neither leaks nor counts against the relay's
    /// limit.
    func detach(_ s: any RelayMuxCarried) {
        if let sid = s.streamID, streams[sid] === s {
            streams[sid] = nil
            reset(stream: sid)
        }
        waiting.removeAll { $0 === s }
        s.mux = nil
        openWaiting()
        closeIfDrained()
    }

    /// Tunnel bytes up: what the windows take (the stream waits for `.writable` for the rest).
    func send(stream: UInt32, _ bytes: UnsafeRawBufferPointer, end: Bool) -> Int {
        actions.removeAll(keepingCapacity: true)
        let n = h2.sendData(stream: stream, bytes, endStream: end, actions: &actions)
        perform()
        flush()
        return n
    }

    func consumed(stream: UInt32, _ count: Int) {
        h2.consumed(stream: stream, count)
        flush()
    }

    func reset(stream: UInt32) {
        actions.removeAll(keepingCapacity: true)
        h2.reset(stream: stream, actions: &actions)
        streams[stream] = nil
        perform()
        flush()
    }

    /// A stream's two sides ended.
    func streamDone(_ sid: UInt32) {
        streams[sid] = nil
        openWaiting()
    }

    // MARK: Connect and handshake

    private func connect() {
        do {
            fd = try Socket.makeTCP(family: relay.address.family)
        } catch {
            on(.socketFailed("\(error)"))
            return
        }
        Socket.setNoDelay(fd)
        loop.connect(handle, op: Op.connect.rawValue, fd: fd, to: relay.address, slot: connectSlot)
    }

    private func startTLS() {
        guard let context = worker.shared.relayClientContext else { on(.tlsContextMissing); return }
        do {
            let e = try TLSEngine(context: context, role: .client)
            try e.configureClient(serverName: nil, verifyName: relay.address.ipString, alpn: ["h2"], session: nil)
            engine = e
        } catch {
            on(.tlsSetUpFailed("\(error)"))
            return
        }
        handshake()
    }

    private func handshake() {
        guard let e = engine else { return }
        let outcome: RelayLinkMachine.Handshake
        switch e.handshake() {
        case .needsInput: outcome = .needsInput
        case .complete: outcome = .complete(fingerprint: e.peerCertificateSHA256, alpn: e.alpn)
        case .failed(let why): outcome = .failed("\(why)")
        }
        on(.handshake(outcome, now: MonotonicClock.now()))
    }

    /// The relay is the pinned one and speaks HTTP/2: the preface, SETTINGS, the waiting streams.
    private func becameUp() {
        worker.relayMuxUp(self)
        worker.diagnostic("relay up: \(relay.address) relay_conn=\(id) (HTTP/2, \(engine?.version ?? "TLS"))")
        h2.start()
        let queued = waiting
        waiting = []
        for s in queued { open(s) }
        flush()
        receive()
    }

    // MARK: I/O

    private func receive() {
        guard !receiving, !link.isClosed, let e = engine else { return }
        let input = e.inbound
        input.compact()
        let count = input.contiguousWritable
        guard count > 0 else { return }
        input.pinned = true
        receiving = true
        loop.recv(handle, op: Op.recv.rawValue, fd: fd, into: input.writePointer, count: count)
    }

    /// The machine's bytes into TLS records, and the records onto the socket.
    func flush() {
        guard isUp, let e = engine else { return }
        while !h2.outbound.isEmpty {
            let n = h2.outbound.withUnsafeBytes { raw in raw.baseAddress.map { e.write($0, count: raw.count) } ?? 0 }
            guard n > 0 else { break }
            h2.didSend(n)
        }
        sendTLS()
    }

    private func sendTLS() {
        guard !sending, !link.isClosed, let e = engine else { return }
        let out = e.outbound
        guard out.readable > 0 else { return }
        out.pinned = true
        sending = true
        loop.send(handle, op: Op.send.rawValue, fd: fd, from: UnsafeRawPointer(out.readPointer), count: out.readable)
    }

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard let op = Op(rawValue: op) else { return }
        switch op {
        case .connect:
            on(.connected(result: result))
        case .recv:
            receiving = false
            engine?.inbound.pinned = false
            guard !link.isClosed, let e = engine else { return }
            if result == -EAGAIN || result == -EINTR { receive(); return }
            if result < 0 { on(.transportEnded(.readError(result))); return }
            if result == 0 { on(.transportEnded(.closed)); return }
            e.inbound.didWrite(Int(result))
            if link.inHandshake { handshake() } else { readPlaintext() }
        case .send:
            sending = false
            engine?.outbound.pinned = false
            guard !link.isClosed, let e = engine else { return }
            if result < 0 && result != -EAGAIN && result != -EINTR {
                on(.transportEnded(.sendError(result)))
                return
            }
            e.outbound.consume(max(0, Int(result)))
            if link.inHandshake { sendTLS() } else { flush() }
            closeIfDrained()
        }
    }

    private func readPlaintext() {
        guard let e = engine else { return }
        while isUp {
            switch e.read(into: plain, max: Self.plainSize) {
            case .data(let n):
                actions.removeAll(keepingCapacity: true)
                h2.receive(UnsafeRawBufferPointer(start: plain, count: n), actions: &actions)
                perform()
            case .needsInput:
                flush()
                receive()
                return
            case .closed:
                on(.transportEnded(.closeNotify))
                return
            case .failed(let why):
                on(.transportEnded(.tlsReadFailed("\(why)")))
                return
            }
        }
    }

    // MARK: The machine's actions

    private func perform() {
        // The list is swapped out (no copy): actions performed here may feed the machine again.
        var list = spareActions
        spareActions = []
        swap(&list, &actions)
        defer {
            list.removeAll(keepingCapacity: true)
            spareActions = list
        }
        for action in list {
            switch action {
            case .response(let sid, let status, let fields):
                guard let s = streams[sid] else { continue }
                if !(200...299).contains(status) { streams[sid] = nil }
                s.answered(status: status, fields: fields, conn: id, streamsOnConnection: h2.openStreams,
                           relay: "\(relay.address)")
            case .request:
                continue
            case .data(let sid, let bytes):
                streams[sid]?.deliver(bytes)
            case .remoteEnd(let sid):
                streams[sid]?.remoteEnd()
            case .reset(let sid, let code, let retryable, let reason):
                guard let s = streams.removeValue(forKey: sid) else { continue }
                if retryable && !s.established {
                    s.streamID = nil
                    s.mux = nil
                    s.reattach()
                } else {
                    s.streamReset(code, "relay \(relay.address): \(reason) (\(code))")
                }
            case .closed(let sid):
                _ = sid
            case .writable(let sid):
                streams[sid]?.writable()
            case .pingAck:
                on(.pingAcknowledged)
            case .goaway(let last, let code, let debug):
                on(.goawayReceived)
                worker.diagnostic("relay goaway: \(relay.address) relay_conn=\(id) last_stream=\(last) code=\(code)\(debug.isEmpty ? "" : " " + debug)")
            case .failed(let error):
                on(.h2Failed("\(error)"))
            case .drained:
                closeIfDrained()
            }
        }
    }

    // MARK: The link machine

    func deadlineExpired(loop: EventLoop) {
        on(.deadline(now: MonotonicClock.now(), awaitingSettingsAck: h2.awaitingSettingsAck))
    }

    /// The worker shuts down: GOAWAY, then close once the streams have ended.
    func shutdown() {
        on(.shutdownRequested)
        closeIfDrained()
    }

    private func closeIfDrained() {
        guard link.isRetiring, !link.isClosed, streams.isEmpty, waiting.isEmpty, !sending else { return }
        on(.streamsEnded)
    }

    /// Feeds the link machine and performs its actions (rare: set-up, keepalive, the end; the
    /// list is empty, unallocated, for most events).
    private func on(_ event: RelayLinkMachine.Event) {
        var list: [RelayLinkMachine.Action] = []
        link.handle(event, &list)
        for action in list {
            switch action {
            case .setDeadline(let at):
                loop.setDeadline(handle, at)
            case .connect:
                connect()
            case .startTLS:
                startTLS()
            case .exchangeHandshake:
                sendTLS()
                receive()
            case .up:
                becameUp()
            case .sendPing:
                h2.ping()
                flush()
            case .retire:
                worker.relayMuxRetiring(self)
            case .sendGoaway:
                // GOAWAY on its way before `.drained` can close the connection.
                actions.removeAll(keepingCapacity: true)
                h2.shutdown(actions: &actions)
                flush()
                perform()
            case .lost(let reason, let wasUp):
                lost(reason, wasUp: wasUp)
            case .close:
                worker.diagnostic("relay closed: \(relay.address) relay_conn=\(id) streams_carried=\(carried)")
                retire()
            }
        }
    }

    /// The connection is gone: every stream on it fails, waiting tunnels go to the next one.
    private func lost(_ reason: String, wasUp: Bool) {
        worker.relayMuxLost(self, reason: reason, wasUp: wasUp)
        worker.diagnostic("relay down: \(relay.address) relay_conn=\(id) streams=\(streams.count) reason=\(reason)")
        let open = streams.values.sorted { ($0.streamID ?? 0) < ($1.streamID ?? 0) }
        streams = [:]
        for s in open { s.fail(.badGateway, reason) }
        let queued = waiting
        waiting = []
        for s in queued {
            s.mux = nil
            s.reattach()
        }
        retire()
    }

    private func retire() {
        loop.retire(handle, cancelling: [fd])
    }

    func finalize(loop: EventLoop) {
        Socket.close(fd)
        fd = -1
        engine = nil
        plain.deallocate()
        worker.relayMuxFinished(self)
    }
}
