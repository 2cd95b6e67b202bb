import VeilRuntime
import VeilTLS
import VeilWire

/// The set-up of one `--route tunnel` connection to the Veil relay, as a value: events in,
/// actions out. The owner (`RelayTunnel`, on the ring thread) performs the actions and decides
/// nothing.
///
///     Connection <--bridge--> RelayTunnel --TLS--> relay --> target
///
/// It connects to the relay, runs a TLS 1.3 handshake (no SNI, no chain verification), checks
/// the SHA-256 of the relay's certificate against the pinned fingerprint before sending
/// anything, sends `CONNECT target` with the secret, and reads the answer. On `200` the session
/// (and the plaintext that came with the answer) is handed over to a `TLSFront`, which carries
/// the tunnel from then on (`OuterSessionMachine`); otherwise the connection answers its client
/// with `502` and the relay's reason (`504` when the relay did not answer in time). One deadline
/// (`connect-timeout`) covers connect, handshake and answer.
///
/// `created -> connecting -> handshake -> awaitingAnswer -> [answered] -> closed`
struct RelayTunnelMachine {
    enum State {
        case created
        /// The TCP connect is in flight.
        case connecting
        case handshake(RelayTunnelSession)
        /// The CONNECT request is out (or going); the answer is being read.
        case awaitingAnswer(RelayTunnelSession)
        /// The relay answered 200 (`pending`: the tunnel's first bytes, which came with it); the
        /// hand-over waits for a send still in flight.
        case answered(RelayTunnelSession, pending: [UInt8])
        /// Ended. `keeping`: the session, whose buffers operations still in flight may use until
        /// the owner's finalize (`release()`); nil once handed over.
        case closed(CloseReason, keeping: RelayTunnelSession?)
    }

    enum Event {
        case start(now: UInt64)
        /// The socket to the relay could not be made (the owner's answer to `.connect`).
        case socketFailed(SystemError)
        case connected(result: Int32)
        /// A receive into the engine's input completed.
        case received(result: Int32)
        /// A send of the engine's output completed.
        case sent(result: Int32)
        case deadlinePassed
        /// The connection ended (its client left, say): the tunnel ends with it.
        case connectionFinished
        /// The worker closes everything (shutdown).
        case closeRequested(CloseReason)
    }

    /// The established session, compared by identity.
    struct Handed: Equatable {
        let engine: TLSEngine
        static func == (a: Handed, b: Handed) -> Bool { a.engine === b.engine }
    }

    enum Action: Equatable {
        /// The one set-up deadline (MonotonicClock nanoseconds; 0: none).
        case setDeadline(UInt64)
        /// A TCP socket to the relay, connected with io_uring (answer `.connected`, or
        /// `.socketFailed` when the socket cannot be made).
        case connect
        case receive(into: UnsafeMutableRawPointer, count: Int)
        case send(from: UnsafeRawPointer, count: Int)
        /// The relay answered 200: a `TLSFront` takes the socket, the session, the bridge and
        /// `pending` (plaintext for the bridge); it starts once this tunnel has closed.
        case handOver(Handed, pending: [UInt8])
        /// The tunnel ends; with `answer`, the set-up failed and the connection answers its
        /// client with that status and the reason.
        case close(CloseReason, answer: HTTPStatusResponse.Status?)
    }

    /// Fixed facts of one tunnel.
    struct Settings {
        /// The relay's address as reasons show it.
        var relay: String
        var fingerprint: RelayFingerprint
        var secret: String
        var target: HostPort
        var connectTimeout: Double
        /// The TLS context for relay connections (nil: not configured).
        var context: TLSContext?
        /// Room for one read of plaintext while the answer is read (the owner's, from its pool).
        var scratch: UnsafeMutableRawPointer
    }

    /// Largest answer head (and error body) accepted from the relay.
    static let maxAnswer = 8192
    /// Most tunnel data accepted with the relay's 200 (it goes to the bridge first).
    static let maxPending = 16 << 10
    /// Most plaintext read out of OpenSSL at once (the scratch holds a record's worth).
    static let readChunk = 16 << 10
    /// Each of the engine's buffers.
    static let engineBuffer = 64 << 10

    var state = State.created
    let settings: Settings
    /// Why the set-up failed, once it has.
    private(set) var failure: RelayTunnelFailure?

    init(settings: Settings) {
        self.settings = settings
    }

    var closeReason: CloseReason? {
        if case .closed(let reason, _) = state { return reason }
        return nil
    }

    /// Nothing is in flight any more: the session kept for operations in flight goes.
    mutating func release() {
        if case .closed(let reason, .some) = state { state = .closed(reason, keeping: nil) }
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch event {
        case .start(let now):
            guard case .created = state else { return }
            state = .connecting
            actions.append(.setDeadline(now &+ settings.connectTimeout.nanoseconds))
            actions.append(.connect)
        case .socketFailed(let error):
            guard case .connecting = state else { return }
            fail(.socket(error), &actions)
        case .connected(let result):
            connected(result, &actions)
        case .received(let result):
            received(result, &actions)
        case .sent(let result):
            sent(result, &actions)
        case .deadlinePassed:
            switch state {
            case .connecting, .handshake, .awaitingAnswer, .answered:
                fail(.timeout(seconds: settings.connectTimeout), &actions)
            case .created, .closed:
                break
            }
        case .connectionFinished:
            close(CloseReason(.ok, "connection ended"), answer: nil, &actions)
        case .closeRequested(let reason):
            close(reason, answer: nil, &actions)
        }
    }

    // MARK: Connect and handshake

    private mutating func connected(_ result: Int32, _ actions: inout [Action]) {
        guard case .connecting = state else { return }
        guard result == 0 else { fail(.socketError(errno: -result), &actions); return }
        guard let context = settings.context else { fail(.noContext, &actions); return }
        let engine: TLSEngine
        do {
            engine = try TLSEngine(context: context, role: .client, inboundCapacity: RelayTunnelMachine.engineBuffer,
                                   outboundCapacity: RelayTunnelMachine.engineBuffer)
        } catch {
            fail(.setUp("\(error)"), &actions)
            return
        }
        let s = RelayTunnelSession(engine: engine)
        state = .handshake(s)
        driveHandshake(s, &actions)
    }

    mutating func driveHandshake(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        switch s.engine.handshake() {
        case .needsInput:
            flush(s, &actions)
            if s.relayClosed { fail(.closedDuringHandshake, &actions); return }
            receive(s, &actions)
        case .complete:
            handshakeDone(s, &actions)
        case .failed(let why):
            fail(.handshake(why), &actions)
        }
    }

    /// Checks the pin before anything is sent, then asks for the target.
    private mutating func handshakeDone(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        let e = s.engine
        guard let got = e.peerCertificateSHA256 else { fail(.noCertificate, &actions); return }
        guard settings.fingerprint.matches(got) else {
            fail(.fingerprintMismatch(got: got, pinned: settings.fingerprint), &actions)
            return
        }
        let target = settings.target
        let head = Array("CONNECT \(target) HTTP/1.1\r\nHost: \(target)\r\nProxy-Authorization: Bearer \(settings.secret)\r\n\r\n".utf8)
        let written = head.withUnsafeBytes { raw in raw.baseAddress.map { e.write($0, count: raw.count) } ?? 0 }
        guard written == head.count else { fail(.requestNotQueued, &actions); return }
        state = .awaitingAnswer(s)
        flush(s, &actions)
        readAnswer(s, &actions)
    }

    // MARK: Closing

    /// Setting up failed: the connection answers its client with the failure's status.
    mutating func fail(_ failure: RelayTunnelFailure, _ actions: inout [Action]) {
        if case .closed = state { return }
        self.failure = failure
        close(failure.closeReason(relay: settings.relay), answer: failure.status, &actions)
    }

    mutating func close(_ reason: CloseReason, answer: HTTPStatusResponse.Status?, _ actions: inout [Action]) {
        let keeping: RelayTunnelSession?
        switch state {
        case .closed: return
        case .created, .connecting: keeping = nil
        case .handshake(let s), .awaitingAnswer(let s), .answered(let s, _): keeping = s
        }
        state = .closed(reason, keeping: keeping)
        actions.append(.close(reason, answer: answer))
    }

    /// The relay answered 200: once no send is in flight, a `TLSFront` takes over and this
    /// tunnel ends.
    mutating func handOver(_ actions: inout [Action]) {
        guard case .answered(let s, let pending) = state, !s.sending else { return }
        actions.append(.setDeadline(0))
        actions.append(.handOver(Handed(engine: s.engine), pending: pending))
        state = .closed(CloseReason(.ok, "handed over"), keeping: nil)
        actions.append(.close(CloseReason(.ok, "handed over"), answer: nil))
    }
}
