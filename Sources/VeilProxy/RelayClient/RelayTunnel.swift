import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// `--route tunnel`: one TLS connection to the Veil relay carrying one connection's upstream.
///
///     Connection <--socketpair--> RelayTunnel --TLS--> relay --> target
///
/// Its set-up (connect, TLS handshake, the pinned certificate, `CONNECT target` with the
/// secret, the relay's answer, every failure and the deadline) is a `RelayTunnelMachine`; this
/// class is its owner on the ring thread: it turns completions, the deadline and the
/// connection's and worker's calls into events, and performs the actions with the runtime's
/// operations. On `200` a `TLSFront` in relay mode takes the socket, the session and the bridge
/// and this handler ends; otherwise the connection answers its client with the machine's status
/// and reason.
final class RelayTunnel: IOHandler {
    enum Op: UInt8 {
        case connect = 1, relayRecv, relaySend
    }

    let id: UInt64
    unowned let worker: ProxyWorker
    /// Our end of the socketpair; the connection has the other (-1 once handed over).
    var bridgeFD: Int32
    let relayAddress: SocketAddress
    /// Which of `config.relays` this is, and which this connection has tried (bits).
    let relayIndex: Int
    let tried: UInt64
    let target: HostPort
    weak var connection: Connection?
    /// The TCP socket to the relay (-1 until made, and once handed over).
    var fd: Int32 = -1
    var handle = IOHandle.none
    var machine: RelayTunnelMachine
    /// One list for every event's actions.
    var actions: [RelayTunnelMachine.Action] = []
    /// Where the relay's address waits for the kernel during the connect.
    let connectSlot = AddressSlot()
    /// The machine's scratch (a record buffer from the pool), given back at finalize.
    var scratch: UnsafeMutableRawPointer?

    var loop: EventLoop { worker.loop }

    init(id: UInt64, bridgeFD: Int32, target: HostPort, relayIndex: Int, tried: UInt64, connection: Connection,
         worker: ProxyWorker) {
        let relay = worker.config.relays[relayIndex]
        self.id = id
        self.bridgeFD = bridgeFD
        self.relayIndex = relayIndex
        self.tried = tried
        self.target = target
        relayAddress = relay.address
        self.connection = connection
        self.worker = worker
        let scratch = worker.recordBuffers.take()
        self.scratch = scratch
        machine = RelayTunnelMachine(settings: RelayTunnelMachine.Settings(
            relay: "\(relay.address)", fingerprint: relay.fingerprint, secret: relay.secret, target: target,
            connectTimeout: worker.config.connectTimeout, context: worker.shared.relayClientContext,
            scratch: scratch))
        actions.reserveCapacity(8)
    }

    func start() {
        handle = loop.register(self)
        handle(.start(now: MonotonicClock.now()))
    }

    // MARK: Events

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard let op = Op(rawValue: op) else { return }
        switch op {
        case .connect: handle(.connected(result: result))
        case .relayRecv: handle(.received(result: result))
        case .relaySend: handle(.sent(result: result))
        }
    }

    func deadlineExpired(loop: EventLoop) {
        handle(.deadlinePassed)
    }

    /// The connection ended: a tunnel still being set up ends with it.
    func connectionFinished() {
        handle(.connectionFinished)
    }

    /// Ends the tunnel now (the worker closing everything).
    func finish(_ reason: CloseReason) {
        handle(.closeRequested(reason))
    }

    /// Feeds `event` to the machine and performs its actions (and the event a failed socket
    /// answers at once).
    func handle(_ event: RelayTunnelMachine.Event) {
        var next: RelayTunnelMachine.Event? = event
        while let event = next {
            actions.removeAll(keepingCapacity: true)
            machine.handle(event, &actions)
            next = perform()
        }
    }

    // MARK: Actions

    /// Performs `actions`; returns the event an action answered at once (no socket).
    private func perform() -> RelayTunnelMachine.Event? {
        var next: RelayTunnelMachine.Event?
        var adopted: TLSFront?
        // Iterates a copy (a retain): the connection told of a failure may end and reach back
        // into this tunnel, whose machine is closed by then and answers nothing.
        for action in actions {
            switch action {
            case .setDeadline(let deadline):
                loop.setDeadline(handle, deadline)
            case .connect:
                do {
                    fd = try Socket.makeTCP(family: relayAddress.family)
                } catch {
                    next = .socketFailed(error)
                    continue
                }
                Socket.setNoDelay(fd)
                loop.connect(handle, op: Op.connect.rawValue, fd: fd, to: relayAddress, slot: connectSlot)
            case .receive(let buffer, let count):
                loop.recv(handle, op: Op.relayRecv.rawValue, fd: fd, into: buffer, count: count)
            case .send(let bytes, let count):
                loop.send(handle, op: Op.relaySend.rawValue, fd: fd, from: bytes, count: count)
            case .handOver(let session, let pending):
                worker.relayChoice.succeeded(relayIndex)
                adopted = worker.adoptTunnel(fd: fd, engine: session.engine, bridgeFD: bridgeFD, pending: pending,
                                             relayAddress: "\(relayAddress)", connection: connection, id: id)
                fd = -1
                bridgeFD = -1
            case .close(let reason, let answer):
                if answer != nil, machine.failure?.meansRelayUnreachable == true {
                    worker.relayChoice.failed(relayIndex, reason: reason.reason, now: MonotonicClock.now())
                }
                if let answer, !failOver(after: reason) { connection?.tunnelFailed(answer, reason) }
                loop.retire(handle, cancelling: [fd, bridgeFD])
            }
        }
        // The front starts once this tunnel has retired.
        adopted?.adopted()
        return next
    }

    /// This relay could not be reached: the bridge goes to a relay this connection has not
    /// tried, if there is one (a new `RelayTunnel`, with the full connect timeout). Returns
    /// whether it went.
    private func failOver(after reason: CloseReason) -> Bool {
        guard machine.failure?.meansRelayUnreachable == true, let connection, bridgeFD >= 0,
              let next = worker.relayChoice.pick(now: MonotonicClock.now(), tried: tried) else { return false }
        let address = worker.config.relays[next].address
        worker.diagnostic("relay \(relayAddress) failed (\(reason.reason)); connection \(id) tries relay \(address)")
        connection.summary.relay = address.description
        connection.relayTunnel = worker.startTunnel(id: id, fd: bridgeFD, target: target, relay: next,
                                                    tried: tried | RelayChoice.bit(next), connection: connection)
        bridgeFD = -1  // the next tunnel's now
        return true
    }

    // MARK: Closing

    /// Nothing of this tunnel is in flight any more (see `EventLoop.retire`).
    func finalize(loop: EventLoop) {
        Socket.close(fd)
        Socket.close(bridgeFD)
        if let b = scratch { worker.recordBuffers.give(b); scratch = nil }
        machine.release()
        worker.tunnelFinished(self)
    }
}
