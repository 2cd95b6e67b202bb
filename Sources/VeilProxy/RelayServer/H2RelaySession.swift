import VeilHTTP2
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `veil relay` over HTTP/2 (RFC 9113 section 8.5): the outer TLS session negotiated ALPN h2,
/// so its front's bridge carries an HTTP/2 connection instead of one HTTP/1.1 CONNECT. This
/// handler runs the server side of that connection (`H2ConnectionMachine`) on the bridge's
/// other end and turns each CONNECT stream into an ordinary bridged `Connection` (an
/// `H2RelayStream` writes it `CONNECT target HTTP/1.1` with the stream's proxy-authorization and
/// maps its answer to the stream's :status), so every stream passes the same `RelayGate` (secret,
/// target rules, per-client limits) and ends with its own summary line.
///
/// client --TLS(h2)--> TLSFront <--bridge--> H2RelaySession --stream bridge--> Connection --> target
///
/// Flow control: DATA from the client waits in its stream's buffer only until the stream's
/// bridge takes it, and only then is its window granted back (H2ConnectionMachine.consumed),
/// so each stream buffers at most its window; the stream reads its bridge again only once the
/// client's windows took what it read. Shutdown: GOAWAY, the open streams drain (their
/// connections have the grace period), then the session ends and the front sends close_notify.
final class H2RelaySession: IOHandler {
    enum Op: UInt8 { case recv = 1, send }

    static let streamWindow = 128 * 1024
    static let chunk = 64 * 1024

    unowned let worker: ProxyWorker
    weak var front: TLSFront?
    let fd: Int32
    let client: String
    let frontInfo: FrontInfo
    var handle = IOHandle.none
    var machine: H2ConnectionMachine
    var actions: [H2ConnectionMachine.Action] = []
    var streams: [UInt32: H2RelayStream] = [:]
    let receiveArea: UnsafeMutableRawPointer
    let sendArea: UnsafeMutableRawPointer
    var sending = 0
    var receiving = false
    /// No more reading: the client is gone, or the connection failed or drained.
    var ending = false
    /// The client's side of the bridge is gone: nothing more can be sent.
    var transportGone = false
    var retired = false

    /// The front's connection id and start, for this connection's own summary line.
    let id: UInt64
    let started: UInt64
    var streamsOpened = 0

    /// Why this connection takes no stream (shutting down, over --max-connections): GOAWAY at once.
    let refusal: CloseReason?

    init(fd: Int32, worker: ProxyWorker, front: TLSFront, client: String, frontInfo: FrontInfo, refusal: CloseReason?) {
        self.refusal = refusal
        self.fd = fd
        id = front.id
        started = front.started
        self.worker = worker
        self.front = front
        self.client = client
        self.frontInfo = frontInfo
        machine = H2ConnectionMachine(.init(role: .server, streamWindow: H2RelaySession.streamWindow,
                                            connectionWindow: 4 * 1024 * 1024, maxConcurrentStreams: 100))
        receiveArea = UnsafeMutableRawPointer.allocate(byteCount: H2RelaySession.chunk, alignment: 16)
        sendArea = UnsafeMutableRawPointer.allocate(byteCount: H2RelaySession.chunk, alignment: 16)
        actions.reserveCapacity(16)
    }

    func start() {
        handle = worker.loop.register(self)
        machine.start()
        if let refusal {
            machine.shutdown(reason: refusal.reason, actions: &actions)
        } else if worker.shuttingDown {
            machine.shutdown(reason: "relay shutting down", actions: &actions)
        }
        perform()
        postReceive()
    }

    // MARK: Events

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        switch Op(rawValue: op) {
        case .recv:
            receiving = false
            if result > 0 {
                machine.receive(UnsafeRawBufferPointer(start: receiveArea, count: Int(result)), actions: &actions)
                perform()
                postReceive()
            } else {
                ending = true
                transportGone = true
                // The client's end with no stream open is a clean end; with streams open, they fail.
                if result < 0 || machine.openStreams > 0 {
                    machine.lost(result == 0 ? "client closed the connection with streams open" : "client: \(SystemError.message(of: -result))",
                                 actions: &actions)
                    perform()
                }
            }
        case .send:
            let sent = sending
            sending = 0
            if result > 0 {
                machine.didSend(min(Int(result), sent))
                flush()
            } else {
                ending = true
                transportGone = true
                machine.lost("client: \(result == 0 ? "send failed" : SystemError.message(of: -result))", actions: &actions)
                perform()
            }
        case .none:
            break
        }
        endIfDone()
    }

    /// Shutdown began: GOAWAY; the open streams finish.
    func shutdownRequested() {
        machine.shutdown(reason: "relay shutting down", actions: &actions)
        perform()
        endIfDone()
    }

    func finish() {
        ending = true
        machine.lost("closed at shutdown", actions: &actions)
        perform()
        endIfDone()
    }

    // MARK: Stream side (called by H2RelayStream)

    func respond(_ id: UInt32, status: Int, extra: [HPACKHeader] = []) {
        machine.respond(stream: id, status: status, extra: extra, actions: &actions)
        perform()
    }

    /// Bytes from a stream's bridge for the client; returns how many the windows took.
    func send(_ id: UInt32, _ bytes: ArraySlice<UInt8>, endStream: Bool) -> Int {
        let n = machine.sendData(stream: id, bytes, endStream: endStream, actions: &actions)
        perform()
        return n
    }

    func consumed(_ id: UInt32, _ count: Int) {
        machine.consumed(stream: id, count)
        flush()
    }

    /// The stream's bridge failed or its connection left early: RST_STREAM.
    func reset(_ id: UInt32) {
        machine.reset(stream: id, code: .cancel, actions: &actions)
        perform()
    }

    func streamFinished(_ id: UInt32) {
        streams[id] = nil
        endIfDone()
    }

    // MARK: Actions

    private func perform() {
        while !actions.isEmpty {
            let batch = actions
            actions.removeAll(keepingCapacity: true)
            for action in batch { apply(action) }
        }
        flush()
    }

    private func apply(_ action: H2ConnectionMachine.Action) {
        switch action {
        case .request(let id, let headers):
            open(id, headers)
        case .data(let id, let bytes):
            if let s = streams[id], !s.deliver(bytes) {
                machine.reset(stream: id, code: .flowControlError, actions: &actions)
                s.abort()
            }
        case .remoteEnd(let id):
            streams[id]?.remoteEnded()
        case .reset(let id, _, _, _):
            streams[id]?.abort()
        case .closed(let id):
            streams[id]?.machineClosed()
        case .writable(let id):
            streams[id]?.writable()
        case .failed, .drained:
            ending = true
            for s in Array(streams.values) { s.abort() }
        case .response, .pingAck, .goaway:
            break
        }
    }

    /// A new stream: CONNECT host:port becomes an HTTP/1.1 CONNECT on a new bridged connection.
    private func open(_ id: UInt32, _ headers: [HPACKHeader]) {
        var method = "", authority = "", credentials: String?, want: String?
        for h in headers {
            switch h.name {
            case "veil-want": want = h.value
            case ":method": method = h.value
            case ":authority": authority = h.value
            case "proxy-authorization": credentials = h.value
            default: break
            }
        }
        let clean = { (s: String) in !s.utf8.contains { $0 < 0x20 || $0 == 0x7F } }
        // RESOLVE host:port (the HTTP/1.1 relay's name service) maps as it is: its answer's
        // status and Veil-* fields become the stream's response, which ends it.
        guard method == "CONNECT" || method == "RESOLVE" else {
            machine.respond(stream: id, status: 405, actions: &actions)
            return
        }
        guard !authority.isEmpty, !authority.contains(" "), clean(authority), clean(credentials ?? ""), clean(want ?? "") else {
            machine.respond(stream: id, status: 400, actions: &actions)
            return
        }
        var request = "\(method) \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let credentials { request += "Proxy-Authorization: \(credentials)\r\n" }
        if method == "RESOLVE", let want { request += "Veil-Want: \(want)\r\n" }
        request += "\r\n"
        let pair: (Int32, Int32)
        do { pair = try Socket.pair() } catch {
            machine.respond(stream: id, status: 503, actions: &actions)
            return
        }
        streamsOpened += 1
        var info = frontInfo
        info.h2Stream = id
        let stream = H2RelayStream(id: id, bridgeFD: pair.1, session: self, resolve: method == "RESOLVE",
                                   bufferCapacity: 2 * H2RelaySession.streamWindow)
        streams[id] = stream
        _ = worker.startBridged(id: worker.shared.makeConnectionID(), fd: pair.0, client: client, front: info,
                                started: MonotonicClock.now(), refusal: nil)
        stream.start(request: Array(request.utf8))
    }

    private func flush() {
        guard sending == 0, !retired, !transportGone, !machine.outbound.isEmpty else { return }
        let n = min(machine.outbound.count, H2RelaySession.chunk)
        machine.outbound.withUnsafeBytes { raw in
            if let p = raw.baseAddress { sendArea.copyMemory(from: p, byteCount: n) }
        }
        sending = n
        worker.loop.send(handle, op: Op.send.rawValue, fd: fd, from: sendArea, count: n)
    }

    private func postReceive() {
        guard !receiving, !ending, !retired else { return }
        receiving = true
        worker.loop.recv(handle, op: Op.recv.rawValue, fd: fd, into: receiveArea, count: H2RelaySession.chunk)
    }

    /// Ends once the connection is over (failed, drained, or the client gone), its streams have
    /// ended and what was to be sent has gone; closing the bridge is its end for the front, which
    /// sends close_notify for a clean end (drained) and a bare FIN otherwise.
    private func endIfDone() {
        guard ending, !retired, streams.isEmpty, sending == 0, transportGone || machine.outbound.isEmpty else { return }
        retired = true
        if machine.failure == nil { front?.bridgeEndAuthenticated = true }
        worker.loop.retire(handle, cancelling: [fd])
    }

    func finalize(loop: EventLoop) {
        Socket.close(fd)
        // This connection's own summary line (each stream's connection writes its own).
        if worker.config.recordLog != .off {
            var s = ConnectionSummary(id: id, started: started, client: client, mode: worker.config.mode)
            s.front = frontInfo
            let streams = "\(streamsOpened) HTTP/2 stream\(streamsOpened == 1 ? "" : "s")"
            if let refusal {
                s.close = refusal
            } else if let failure = machine.failure {
                s.close = CloseReason(transportGone ? .clientGone : .error, "\(streams); \(failure)")
            } else {
                s.close = CloseReason(.ok, streams)
            }
            worker.log(s.line(format: worker.config.logFormat, now: MonotonicClock.now()))
        }
        receiveArea.deallocate()
        sendArea.deallocate()
        worker.h2SessionFinished(self)
    }
}
