import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The HTTPS proxy listener (`--listen-tls`): terminates the TLS a client speaks to the proxy
/// itself, then hands the plaintext (the CONNECT request and the tunnel after it) to an ordinary
/// `Connection` through a socketpair (the bridge), so everything a plain-listener connection does
/// works the same way inside. It also carries a `--route tunnel` session once the relay answered
/// 200 (`init(adopting:)`).
///
/// client --TLS(outer)--> TLSFront <--bridge--> Connection --> upstream
///
/// The session itself is an `OuterSessionMachine` (a value: events in, actions out); this class
/// is its owner on the ring thread: it turns completions, deadlines and the worker's calls into
/// events and performs the actions with the runtime's operations (TLSFront+Actions). The
/// connection's summary line carries `front_tls` and `front_path`; a session that fails before
/// its connection exists writes the one summary line itself.
final class TLSFront: IOHandler {
    enum Op: UInt8 {
        case outerRecv = 1, outerRecordRecv, outerSend, outerShutdown, bridgeRecv, bridgeSend, bridgeShutdown
    }

    let id: UInt64
    unowned let worker: ProxyWorker
    /// The TLS socket (the listener's client, or the relay).
    let fd: Int32
    let peer: String
    let started: UInt64
    /// How this front counts against `--max-connections` (a tunnel's front does not: its
    /// connection does).
    let accounting: Connection.Accounting
    /// Why the connection inside is to answer 503 (over the limit, shutting down).
    let refusal: CloseReason?
    var handle = IOHandle.none
    var machine: OuterSessionMachine
    /// One list for every event's actions (kept, so that handling an event allocates nothing).
    var actions: [OuterSessionMachine.Action] = []
    /// Our end of the bridge (socketpair); the connection has the other.
    var bridgeFD: Int32 = -1
    weak var connection: Connection?
    /// The summary line of this front's connection, once it has ended: written when this
    /// front (and any other still carrying the connection) ends.
    var pendingSummary: PendingSummary?
    /// The pool's buffers lent to the machine's relay, given back at the end.
    var buffers: OuterBuffers?
    /// kTLS: the record messages for recvmsg (the peer's records) and sendmsg (close_notify).
    var receiveMessage: TLSRecordMessage?
    var sendMessage: TLSRecordMessage?

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
        machine = OuterSessionMachine(listener: TLSFront.listenerEngine(worker),
                                      settings: TLSFront.settings(worker, peer: .listenerClient, started: started))
        actions.reserveCapacity(16)
    }

    /// Takes over an established TLS session on `fd` whose plaintext goes to `bridgeFD` (the
    /// relay tunnel once the relay answered 200); `adopted()` starts it (onto kTLS where
    /// possible, then relaying). `pending` is plaintext already read for the bridge.
    init(adopting fd: Int32, engine: TLSEngine, bridgeFD: Int32, pending: [UInt8], relayAddress: String,
         connection: Connection?, id: UInt64, worker: ProxyWorker) {
        self.id = id
        self.fd = fd
        self.worker = worker
        self.bridgeFD = bridgeFD
        self.connection = connection
        accounting = .front
        refusal = nil
        started = MonotonicClock.now()
        let outerPeer = OuterPeer.relay(address: relayAddress)
        peer = outerPeer.name
        let lent = OuterBuffers(up: worker.recordBuffers.take(), down: worker.recordBuffers.take())
        buffers = lent
        machine = OuterSessionMachine(tunnel: engine, pending: pending, buffers: lent,
                                      settings: TLSFront.settings(worker, peer: outerPeer, started: started))
        actions.reserveCapacity(16)
        handle = worker.loop.register(self)
        connection?.upstreamFront = self
    }

    /// The listener's engine for a new client (server role, the listener's certificate), or why
    /// there is none.
    private static func listenerEngine(_ worker: ProxyWorker) -> Result<TLSEngine, OuterSessionFailure> {
        guard let front = worker.shared.front else { return .failure(.noListener) }
        do {
            let e = try TLSEngine(context: front.context, role: .server,
                                  inboundCapacity: 64 << 10, outboundCapacity: 64 << 10)
            try front.configure(e)
            if let keylog = worker.keylog { e.onKeyLog = { line in keylog.append(line + "\n") } }
            return .success(e)
        } catch {
            return .failure(.setUp("\(error)"))
        }
    }

    private static func settings(_ worker: ProxyWorker, peer: OuterPeer, started: UInt64) -> OuterSessionMachine.Settings {
        let config = worker.config
        return OuterSessionMachine.Settings(
            peer: peer, handshakeTimeout: config.handshakeTimeout, grace: config.grace,
            kernelTLS: worker.shared.kernelTLS.isAvailable, recordLayer: config.recordLayer, started: started,
            graceDeadline: worker.shuttingDown ? worker.graceDeadline : nil)
    }

    func start() {
        handle = loop.register(self)
        handle(.start)
    }

    /// The tunnel's session, handed over: starts relaying.
    func adopted() { handle(.start) }

    /// The connection vouches (or not) for the end it passes on to the bridge: only a vouched
    /// end becomes close_notify on the outer session.
    var bridgeEndAuthenticated: Bool {
        get { machine.bridgeEndAuthenticated }
        set { if newValue { handle(.bridgeEndAuthenticated) } }
    }

    // MARK: Events

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard let op = Op(rawValue: op) else { return }
        switch op {
        case .outerRecv: handle(.received(.outer, result: result))
        case .outerRecordRecv:
            guard let m = receiveMessage else { return }
            handle(.receivedRecord(result: result, type: result > 0 ? m.type : 0, body: UnsafeRawPointer(m.data)))
        case .outerSend: handle(.sent(.outer, result: result))
        case .outerShutdown: handle(.shutDown(.outer))
        case .bridgeRecv: handle(.received(.bridge, result: result))
        case .bridgeSend: handle(.sent(.bridge, result: result))
        case .bridgeShutdown: handle(.shutDown(.bridge))
        }
    }

    func deadlineExpired(loop: EventLoop) {
        handle(.deadlinePassed(now: MonotonicClock.now()))
    }

    /// Shutdown began: a front still in its handshake may finish it within the grace period
    /// (its connection then answers 503); a relaying one ends with its connection, which has
    /// the grace period.
    func shutdownRequested(graceDeadline: UInt64) {
        handle(.shutdownRequested(graceDeadline: graceDeadline))
    }

    /// Ends the front now (the worker closing everything).
    func finish(_ reason: CloseReason) {
        handle(.closeRequested(reason))
    }

    /// Feeds `event` to the machine and performs its actions, and the events those answer at
    /// once (a kTLS install, the bridge opened).
    func handle(_ event: OuterSessionMachine.Event) {
        var next: OuterSessionMachine.Event? = event
        while let event = next {
            actions.removeAll(keepingCapacity: true)
            machine.handle(event, &actions)
            next = perform()
        }
    }

    // MARK: Closing

    /// Nothing of this front is in flight any more (see `EventLoop.retire`).
    func finalize(loop: EventLoop) {
        Socket.close(fd)
        Socket.close(bridgeFD)
        if let b = buffers {
            worker.recordBuffers.give(b.up)
            worker.recordBuffers.give(b.down)
            buffers = nil
        }
        receiveMessage = nil
        sendMessage = nil
        machine.release()
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
