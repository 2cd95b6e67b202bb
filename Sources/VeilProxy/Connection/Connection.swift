import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// One client connection, owned by one worker's event loop: CONNECT front -> resolve ->
/// upstream connect -> TLS handshake relay (record by record, logged) -> splice relay.
///
/// Every method runs on the loop's thread. Operations carry an `Op` tag; the loop counts them
/// in flight, and the connection is torn down only when none are left (see `finish`).
final class Connection: IOHandler {
    enum Op: UInt8 {
        case clientRecv = 1, clientSend, connect, upstreamRecv, upstreamSend, cancel
        case lingerShutdown, lingerRecv, alertSend, clientShutdown, upstreamShutdown
        case upControl, upControlSend, downControl, downControlSend
        case upPollIn, upSpliceIn, upPollOut, upSpliceOut
        case downPollIn, downSpliceIn, downPollOut, downSpliceOut
        case ktlsRecv, ktlsSend, ktlsShutdown

        /// A side's receive, send and write-shutdown operations.
        static func receive(_ side: TransferSide) -> Op { side == .client ? .clientRecv : .upstreamRecv }
        static func send(_ side: TransferSide) -> Op { side == .client ? .clientSend : .upstreamSend }
        static func shutdown(_ side: TransferSide) -> Op { side == .client ? .clientShutdown : .upstreamShutdown }
    }

    /// The socket on a side.
    func fd(_ side: TransferSide) -> Int32 { side == .client ? clientFD : upstreamFD }

    /// The HTTPS-listener or tunnel front carrying a side's socket, if any.
    func front(_ side: TransferSide) -> TLSFront? { side == .client ? clientFront : upstreamFront }

    /// How this connection counts against `--max-connections`.
    enum Accounting {
        /// Admitted: counted until it ends.
        case admitted
        /// Refused with 503 (over the limit, or shutting down): counted among the worker's refusals.
        case refused
        /// Inside an HTTPS-listener front, which does the counting.
        case front
    }

    // `@exclusivity(unchecked)`: the properties every completion touches skip Swift's dynamic
    // exclusivity check (about 170 instructions per access on this toolchain; a connection makes
    // hundreds). Each is only read or assigned in place, or lent inout to a machine's `handle`,
    // which calls nothing back on the connection: no access can overlap another. The same holds
    // for the machines' per-direction classes (HandshakeRecordStream, SpliceStream, the relays).
    let id: UInt64
    unowned let worker: ProxyWorker
    var accounting: Accounting
    let clientFD: Int32
    @exclusivity(unchecked) var upstreamFD: Int32 = -1
    @exclusivity(unchecked) var handle = IOHandle.none
    /// What runs the connection now, with its machine (Connection+Phase).
    @exclusivity(unchecked) var phase: Phase
    @exclusivity(unchecked) var summary: ConnectionSummary
    let started: UInt64

    // The request phase (Connection+Request drives its machine).
    /// The request buffer (from the worker's pool; a refused connection has none). It becomes
    /// the first record buffer of the transfer, or the plain-http body buffer.
    var requestBuffer: UnsafeMutableRawPointer?
    /// Where the upstream address waits for the kernel during a connect.
    var connectSlot: AddressSlot?
    /// The upstream address connected to (a retry after an ECH rejection connects it again).
    var upstreamSocketAddress: SocketAddress?
    /// The upstream reconnect after an ECH rejection, while under way (Connection+ECHRetry).
    var echRetry: UpstreamRetry?
    /// Veil's own bytes on their way to the client (an answer, the plain-http head, an alert).
    var responseBuffer: UnsafeMutableRawPointer?
    var responseLength = 0

    // Transfer (pass-through, kTLS splice, plain-http forward; Connection+Transfer drives its
    // machine): the upstream->client record buffer of the handshake relay, and the splice pipes.
    var recordBuffer: UnsafeMutableRawPointer?
    var pipes = SplicePipes()

    // Interception (Connection+Intercept drives the handshakes' machine, then
    // Connection+InterceptRelay or Connection+MixedTransfer the relay's): the one action list the
    // handshakes' events fill, how long the upstream handshake took (for the relay and the
    // summary), and the plaintext buffer both relays read into.
    var interceptActions: [InterceptMachine.Action] = []
    var upstreamHandshakeNanos: UInt64 = 0
    var plaintext: UnsafeMutableRawPointer?

    // Relay: the tunnel carrying this connection's upstream (`--route tunnel`), and on the relay
    // itself the per-client slot this connection holds.
    weak var relayTunnel: RelayTunnel?
    /// `--relay-mux on`: the stream carrying this connection's tunnel.
    weak var relayMuxStream: RelayMuxStream?
    var relaySlot: String?
    /// The TLS fronts carrying this connection's client socket (HTTPS listener) and upstream
    /// socket (relay tunnel): told when an end passed on to them was authenticated (the relays' `shutdownWrite`).
    weak var clientFront: TLSFront?
    weak var upstreamFront: TLSFront?

    // Deadlines: the phase's own, and the shutdown grace period if one is running.
    @exclusivity(unchecked) var phaseDeadline: UInt64 = 0
    @exclusivity(unchecked) var graceDeadline: UInt64 = 0

    /// The worker's loop and action lists, held here so that a completion reaches them in one
    /// step (an unowned reference costs a strong retain and release per use; every operation
    /// uses the loop). The loop holds this connection only until it is finalized, which ends
    /// the cycle.
    let loop: EventLoop
    let actionLists: ActionLists
    var config: ProxyConfiguration { worker.config }

    /// `client` and `front` are given for connections that came through the HTTPS listener,
    /// whose `clientFD` is the front's socketpair.
    init(id: UInt64, clientFD: Int32, worker: ProxyWorker, admitted: Bool = false, client: String? = nil,
         front: FrontInfo? = nil, started: UInt64? = nil) {
        self.id = id
        self.clientFD = clientFD
        self.worker = worker
        loop = worker.loop
        actionLists = worker.actionLists
        accounting = front != nil ? .front : admitted ? .admitted : .refused
        self.started = started ?? MonotonicClock.now()
        summary = ConnectionSummary(id: id, started: self.started,
                                    client: client ?? Socket.peerAddress(clientFD)?.description ?? "?",
                                    mode: worker.config.mode)
        summary.front = front
        phase = .request(Held(RequestMachine(policy: worker.requestPolicy, viaListener: front != nil)))
    }

    /// Starts reading the CONNECT request; with a `refusal` (over the limit, shutting down),
    /// answers 503 with its reason at once instead.
    func start(refusal: CloseReason? = nil) {
        handle = loop.register(self)
        if worker.shuttingDown { graceDeadline = worker.graceDeadline }
        if let refusal {
            requestEvent(.refused(refusal, graceDeadline: worker.shuttingDown ? worker.graceDeadline : nil, now: MonotonicClock.now()))
            return
        }
        let buffer = worker.recordBuffers.take()
        requestBuffer = buffer
        requestEvent(.start(buffer: buffer, capacity: worker.recordBuffers.bufferSize, now: MonotonicClock.now()))
    }

    // MARK: Completions

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard let op = Op(rawValue: op) else { return }
        switch phase {
        case .request: requestCompleted(op, result)
        case .transfer: transferCompleted(op, result: result)
        case .intercept: interceptCompleted(op, result: result)
        case .interceptRelay: relayCompleted(op, result: result)
        case .mixedRelay: mixedCompleted(op, result: result)
        case .closing, .closed: break
        }
    }

    func receive(_ message: any Sendable, loop: EventLoop) {
        if case .request = phase {
            requestMessage(message)
        } else if let minted = message as? MintOutcome {
            certificateMinted(minted)
        } else if let lookup = message as? ECHLookup {
            echRetryLooked(lookup)
        }
    }

    // MARK: Deadlines

    /// Sets the current phase's deadline `seconds` from now (0: none).
    func armDeadline(after seconds: Double) {
        phaseDeadline = seconds > 0 ? MonotonicClock.now() + seconds.nanoseconds : 0
        applyDeadline()
    }

    func applyDeadline() {
        var d = phaseDeadline
        if graceDeadline != 0 && (d == 0 || graceDeadline < d) { d = graceDeadline }
        loop.setDeadline(handle, d)
    }

    func deadlineExpired(loop: EventLoop) {
        let now = MonotonicClock.now()
        if case .request = phase {
            requestEvent(.deadline(now: now))
            return
        }
        if graceDeadline != 0 && now >= graceDeadline {
            finish(CloseReason(.shutdown, "closed at shutdown: grace period of \(format(config.grace)) ended"))
            return
        }
        switch phase {
        case .intercept: interceptEvent(.deadlinePassed(now: now))
        case .interceptRelay: relayEvent(.deadlinePassed(now: now))
        case .mixedRelay: mixedEvent(.deadlinePassed(now: now))
        case .transfer:
            if phaseDeadline == 0 || now < phaseDeadline {
                applyDeadline()
            } else {
                transferEvent(.deadlinePassed(now: now))
            }
        case .request, .closing, .closed: break
        }
    }

    /// Shutdown began: a connection still setting up is answered 503 now; the others (an answer
    /// on its way, a relay) get the grace period.
    func shutdownRequested(graceDeadline: UInt64) {
        guard !phase.isOver else { return }
        self.graceDeadline = graceDeadline
        if case .request = phase {
            requestEvent(.shutdown(graceDeadline: graceDeadline, now: MonotonicClock.now()))
        } else {
            applyDeadline()
        }
    }

    // MARK: Closing

    /// Ends the connection: the loop cancels whatever is in flight and calls `finalize` once
    /// nothing is, after the current event has returned. Whatever the caller does next on this
    /// connection submits nothing (the handle is retired) and finds its state intact; the machine
    /// that ran is kept, not run, until `finalize`.
    func finish(_ reason: CloseReason) {
        guard !phase.isOver else { return }
        phase = .closing(ended: phase.running)
        summary.close = reason
        relayTunnel?.connectionFinished()
        relayMuxStream?.connectionFinished()
        loop.retire(handle, cancelling: clientFD, upstreamFD)
    }

    /// Notes how one side ended (`client_end=`, `upstream_end=`); the first end seen counts.
    func noteEnd(client: Bool, _ end: StreamEnd) {
        if client {
            if summary.clientEnd == nil { summary.clientEnd = end }
        } else if summary.upstreamEnd == nil {
            summary.upstreamEnd = end
        }
    }

    /// Nothing of this connection is in flight any more: close, release, write the summary.
    func finalize(loop: EventLoop) {
        Socket.close(clientFD)
        Socket.close(upstreamFD)
        pipes.release(to: worker.pipePool)
        releaseRecordBuffers()
        if let p = plaintext { worker.recordBuffers.give(p); plaintext = nil }
        phase = .closed
        if let b = responseBuffer { b.deallocate(); responseBuffer = nil }
        connectSlot = nil
        if let slot = relaySlot { worker.shared.relayGate?.release(slot); relaySlot = nil }
        switch accounting {
        case .admitted: worker.shared.admission.leave()
        case .refused: worker.refusalFinished()
        case .front: break
        }
        let fronts = [clientFront, upstreamFront].compactMap { $0 }
        if fronts.isEmpty {
            worker.connectionSummary(summary, upstreamHandshakeNanos: upstreamHandshakeNanos)
        } else {
            let pending = PendingSummary(summary, upstreamHandshakeNanos: upstreamHandshakeNanos, holders: fronts.count)
            for f in fronts { f.pendingSummary = pending }
        }
        worker.connectionFinished(self)
    }

    func releaseRecordBuffers() {
        if let b = requestBuffer { worker.recordBuffers.give(b) }
        if let b = recordBuffer { worker.recordBuffers.give(b) }
        requestBuffer = nil
        recordBuffer = nil
    }

    func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }

    func elapsed() -> UInt64 { MonotonicClock.now() &- started }
}
