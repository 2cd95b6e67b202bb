import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// `--route tunnel`: one TLS connection to the Veil relay carrying one connection's upstream.
/// The mirror image of `TLSFront` (Veil is the TLS client here):
///
/// Connection <--socketpair--> RelayTunnel --TLS--> relay --> target
///
/// It connects to the relay on the connection's loop, runs the TLS handshake, checks the
/// relay's certificate against the pinned SHA-256 fingerprint before sending anything, sends
/// `CONNECT target` with the shared secret, and on `200` tells the connection, which then
/// treats its end of the socketpair as the upstream socket. Plaintext then moves both ways
/// (userspace OpenSSL). The target's name travels only inside the relay's TLS.
final class RelayTunnel: IOHandler {
    enum Op: UInt8 {
        case connect = 1, relayRecv, relaySend, cancel
    }

    enum Phase { case connecting, handshake, awaitingStatus, closing }

    /// Largest answer head (and error body) accepted from the relay.
    static let maxAnswer = 8192

    let id: UInt64
    unowned let worker: ProxyWorker
    /// Our end of the socketpair; the connection has the other.
    var bridgeFD: Int32
    let target: HostPort
    let relay: RelayEndpoint
    weak var connection: Connection?
    /// The TCP socket to the relay.
    var fd: Int32 = -1
    var handle = IOHandle.none
    var phase = Phase.connecting
    var engine: TLSEngine?
    /// Where the relay's address waits for the kernel during the connect.
    let connectSlot = AddressSlot()
    /// The relay's answer to CONNECT, until its head (and an error's body) is complete.
    var answer: [UInt8] = []

    /// Scratch for the relay's answer (plaintext read before the tunnel is handed over).
    var down: UnsafeMutableRawPointer?
    /// Plaintext that followed the relay's 200 in the same read: the tunnel's first bytes.
    var pending: [UInt8] = []
    /// The relay answered 200; the hand-over waits for a send still in flight.
    var answered = false
    var relayReceiving = false
    var relaySending = false
    var relayDone = false

    var loop: EventLoop { worker.loop }
    var config: ProxyConfiguration { worker.config }

    init(id: UInt64, bridgeFD: Int32, target: HostPort, relay: RelayEndpoint, connection: Connection, worker: ProxyWorker) {
        self.id = id
        self.bridgeFD = bridgeFD
        self.target = target
        self.relay = relay
        self.connection = connection
        self.worker = worker
    }

    func start() {
        handle = loop.register(self)
        // One deadline for connect, TLS handshake and the relay's answer.
        loop.setDeadline(handle, MonotonicClock.now() + config.connectTimeout.nanoseconds)
        do {
            fd = try Socket.makeTCP(family: relay.address.family)
        } catch {
            fail(.badGateway, "relay \(relay.address): \(error)")
            return
        }
        Socket.setNoDelay(fd)
        loop.connect(handle, op: Op.connect.rawValue, fd: fd, to: relay.address, slot: connectSlot)
    }

    // MARK: Completions

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard phase != .closing, let op = Op(rawValue: op) else { return }
        switch op {
        case .cancel: break
        case .connect: connected(result)
        case .relayRecv:
            relayReceiving = false
            engine?.inbound.pinned = false
            relayReceived(result)
        case .relaySend:
            relaySending = false
            engine?.outbound.pinned = false
            relaySent(result)
        }
    }

    func deadlineExpired(loop: EventLoop) {
        switch phase {
        case .connecting, .handshake, .awaitingStatus:
            fail(.gatewayTimeout, "relay \(relay.address) did not answer within \(Int(config.connectTimeout))s (connect, TLS handshake and CONNECT)")
        case .closing:
            break
        }
    }

    /// The connection ended: a tunnel still being set up ends with it; a relaying one sees the
    /// bridge close and closes the relay's TLS in order.
    func connectionFinished() {
        finish(CloseReason(.ok, "connection ended"))
    }

    // MARK: Connect and handshake

    private func connected(_ result: Int32) {
        guard result == 0 else {
            fail(.badGateway, "relay \(relay.address): \(SystemError.message(of: -result))")
            return
        }
        guard let context = worker.shared.relayClientContext else {
            fail(.badGateway, "relay: no TLS context")
            return
        }
        do {
            engine = try TLSEngine(context: context, role: .client, inboundCapacity: 64 << 10, outboundCapacity: 64 << 10)
        } catch {
            fail(.badGateway, "relay TLS set-up: \(error)")
            return
        }
        down = worker.recordBuffers.take()
        phase = .handshake
        driveHandshake()
    }

    func driveHandshake() {
        guard let e = engine else { return }
        switch e.handshake() {
        case .needsInput:
            flushRelay()
            if relayDone { fail(.badGateway, "relay \(relay.address) closed the connection during the TLS handshake"); return }
            receiveRelay()
        case .complete:
            handshakeDone(e)
        case .failed(let reason):
            fail(.badGateway, "relay \(relay.address): TLS handshake: \(reason)")
        }
    }

    /// Checks the pin before anything is sent, then asks for the target.
    private func handshakeDone(_ e: TLSEngine) {
        guard let got = e.peerCertificateSHA256 else {
            fail(.badGateway, "relay \(relay.address) presented no certificate")
            return
        }
        guard relay.fingerprint.matches(got) else {
            fail(.badGateway, "relay certificate fingerprint mismatch (got \(RelayFingerprint.format(got)), pinned \(relay.fingerprint))")
            return
        }
        let head = Array("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\nProxy-Authorization: Bearer \(relay.secret)\r\n\r\n".utf8)
        let written = head.withUnsafeBytes { raw in raw.baseAddress.map { e.write($0, count: raw.count) } ?? 0 }
        guard written == head.count else { fail(.badGateway, "relay: could not queue the CONNECT request"); return }
        phase = .awaitingStatus
        flushRelay()
        readAnswer()
    }

    // MARK: The relay's answer

    func readAnswer() {
        guard let e = engine, let down else { return }
        while true {
            switch e.read(into: down, max: 16 << 10) {
            case .data(let n):
                answer.append(contentsOf: UnsafeRawBufferPointer(start: down, count: n))
                if answer.count > RelayTunnel.maxAnswer * 2 { fail(.badGateway, "relay: answer too large"); return }
                if answerComplete() { return }
            case .needsInput:
                if relayDone { answerEnded(); return }
                flushRelay()
                receiveRelay()
                return
            case .closed:
                relayDone = true
                answerEnded()
                return
            case .failed(let reason):
                fail(.badGateway, "relay \(relay.address): \(reason)")
                return
            }
        }
    }

    /// Acts on the answer once its head (and an error's body) is here; false to read more.
    private func answerComplete() -> Bool {
        guard let parsed = RelayAnswer(answer) else {
            if answer.count > RelayTunnel.maxAnswer { fail(.badGateway, "relay: answer head too large"); return true }
            return false
        }
        if parsed.status == 200 {
            let rest = answer[parsed.headLength...]
            guard rest.count <= 16 << 10 else { fail(.badGateway, "relay: too much data after its 200"); return true }
            pending = Array(rest)
            answer = []
            answered = true
            established()
            return true
        }
        guard parsed.bodyComplete else { return false }
        refused(parsed)
        return true
    }

    /// The relay closed: what it said so far is all there is.
    private func answerEnded() {
        if let parsed = RelayAnswer(answer), parsed.status != 200 {
            refused(parsed)
        } else {
            fail(.badGateway, "relay \(relay.address) closed the connection without answering CONNECT")
        }
    }

    private func refused(_ answer: RelayAnswer) {
        let kind: CloseReason.Kind = answer.status == 407 ? .authFailed : .relayFailed
        fail(.badGateway, "relay: \(answer.status) \(answer.reason)", kind: kind)
    }

    /// The relay answered 200: a `TLSFront` in relay mode takes the socket, the session (onto
    /// kTLS where it can) and the bridge, and tells the connection how the session moves; this
    /// handler ends.
    func established() {
        guard !relaySending else { return }  // relaySent comes back here
        guard let e = engine else { return }
        loop.setDeadline(handle, 0)
        let front = worker.adoptTunnel(fd: fd, engine: e, bridgeFD: bridgeFD, pending: pending,
                                       relayAddress: "\(relay.address)", connection: connection, id: id)
        fd = -1
        bridgeFD = -1
        engine = nil
        finish(CloseReason(.ok, "handed over"))
        front.adopted()
    }

    // MARK: Closing

    /// Setting up failed: the connection answers the client with `status` and the reason.
    func fail(_ status: HTTPStatusResponse.Status, _ why: String, kind: CloseReason.Kind = .relayFailed) {
        guard phase != .closing else { return }
        let reason = CloseReason(kind, why)
        if let c = connection { c.tunnelFailed(status, reason) }
        finish(reason)
    }

    func finish(_ reason: CloseReason) {
        guard phase != .closing else { return }
        phase = .closing
        loop.retire(handle, cancelling: [fd, bridgeFD])
    }

    /// Nothing of this tunnel is in flight any more (see `EventLoop.retire`).
    func finalize(loop: EventLoop) {
        Socket.close(fd)
        Socket.close(bridgeFD)
        if let b = down { worker.recordBuffers.give(b); down = nil }
        engine = nil
        worker.tunnelFinished(self)
    }
}
