import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The set-up of one `--route tunnel` connection to the Veil relay, as a value: events in,
/// actions out (the driver, `RelayTunnel`, performs them on the ring thread).
///
///     Connection <--bridge--> RelayTunnel --TLS--> relay --> target
///
/// It connects to the relay, runs a TLS 1.3 handshake (no SNI, no chain verification), checks
/// the SHA-256 of the relay's certificate against the pinned fingerprint before sending
/// anything, sends `CONNECT target` with the secret, and reads the answer. On `200` the session
/// (and the plaintext that followed the answer) is handed over to an `OuterSession`, which
/// carries the tunnel from then on; otherwise the connection answers its client with `502` and
/// the relay's reason (`504` when the relay did not answer in time). One deadline
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
        case closed(CloseReason)
    }

    enum Event {
        case start
        /// The socket to the relay could not be made (the driver's answer to `.connect`).
        case socketFailed(SystemError)
        case connected(result: Int32)
        /// A receive into the engine's input completed.
        case received(result: Int32)
        /// A send of the engine's output completed.
        case sent(result: Int32)
        case deadlinePassed
        /// The connection ended (its client left, say): the tunnel ends with it.
        case connectionFinished
        case closeRequested(CloseReason)
    }

    /// The established session, compared by identity.
    struct Handed: Equatable {
        let engine: TLSEngine
        static func == (a: Handed, b: Handed) -> Bool { a.engine === b.engine }
    }

    enum Action: Equatable {
        case setDeadline(OuterSessionMachine.Deadline)
        /// A TCP socket to the relay, connected with io_uring (`.connected`, or `.socketFailed`).
        case connect
        case receive(into: UnsafeMutableRawPointer, count: Int)
        case send(from: UnsafeRawPointer, count: Int)
        /// The relay answered 200: an `OuterSession` takes the socket, the session, the bridge
        /// and `pending` (plaintext for the bridge).
        case handOver(Handed, pending: [UInt8])
        /// The tunnel ends; with `answer`, the set-up failed and the connection answers its
        /// client with that status and the reason.
        case close(CloseReason, answer: HTTPStatusResponse.Status?)
    }

    struct Settings {
        /// The relay's address as reasons show it.
        var relay: String
        var fingerprint: RelayFingerprint
        var secret: String
        var target: HostPort
        var connectTimeout: Double
        /// The TLS context for relay connections (nil: not configured).
        var context: TLSContext?
        /// Room for one record's plaintext while the answer is read (the driver's).
        var scratch: UnsafeMutableRawPointer
    }

    /// Largest answer head (and error body) accepted from the relay.
    static let maxAnswer = 8192
    /// Most tunnel data accepted with the relay's 200 (it goes to the bridge first).
    static let maxPending = 16 << 10

    private(set) var state = State.created
    let settings: Settings

    init(settings: Settings) {
        self.settings = settings
    }

    var closeReason: CloseReason? {
        if case .closed(let reason) = state { return reason }
        return nil
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch event {
        case .start:
            guard case .created = state else { return }
            state = .connecting
            actions.append(.setDeadline(.after(nanoseconds: settings.connectTimeout.nanoseconds)))
            actions.append(.connect)
        case .socketFailed(let error):
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
            engine = try TLSEngine(context: context, role: .client, inboundCapacity: 64 << 10, outboundCapacity: 64 << 10)
        } catch {
            fail(.setUp("\(error)"), &actions)
            return
        }
        let s = RelayTunnelSession(engine: engine)
        state = .handshake(s)
        driveHandshake(s, &actions)
    }

    private mutating func driveHandshake(_ s: RelayTunnelSession, _ actions: inout [Action]) {
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

    // MARK: The relay's answer

    private mutating func readAnswer(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        let e = s.engine
        while true {
            switch e.read(into: settings.scratch, max: 16 << 10) {
            case .data(let n):
                s.answer.append(contentsOf: UnsafeRawBufferPointer(start: settings.scratch, count: n))
                if s.answer.count > RelayTunnelMachine.maxAnswer * 2 { fail(.answerTooLarge, &actions); return }
                if answerComplete(s, &actions) { return }
            case .needsInput:
                if s.relayClosed { answerEnded(s, &actions); return }
                flush(s, &actions)
                receive(s, &actions)
                return
            case .closed:
                s.relayClosed = true
                answerEnded(s, &actions)
                return
            case .failed(let why):
                fail(.read(why), &actions)
                return
            }
        }
    }

    /// Acts on the answer once its head (and an error's body) is here; false to read more.
    private mutating func answerComplete(_ s: RelayTunnelSession, _ actions: inout [Action]) -> Bool {
        guard let parsed = RelayAnswer(s.answer) else {
            if s.answer.count > RelayTunnelMachine.maxAnswer { fail(.answerHeadTooLarge, &actions); return true }
            return false
        }
        if parsed.status == 200 {
            let rest = s.answer[parsed.headLength...]
            guard rest.count <= RelayTunnelMachine.maxPending else { fail(.tooMuchAfterAnswer, &actions); return true }
            state = .answered(s, pending: Array(rest))
            s.answer = []
            handOver(&actions)
            return true
        }
        guard parsed.bodyComplete else { return false }
        fail(.refused(status: parsed.status, reason: parsed.reason), &actions)
        return true
    }

    /// The relay closed: what it said so far is all there is.
    private mutating func answerEnded(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        if let parsed = RelayAnswer(s.answer), parsed.status != 200 {
            fail(.refused(status: parsed.status, reason: parsed.reason), &actions)
        } else {
            fail(.closedWithoutAnswer, &actions)
        }
    }

    /// The relay answered 200: once no send is in flight, an `OuterSession` takes over and this
    /// tunnel ends.
    private mutating func handOver(_ actions: inout [Action]) {
        guard case .answered(let s, let pending) = state, !s.sending else { return }
        actions.append(.setDeadline(.none))
        actions.append(.handOver(Handed(engine: s.engine), pending: pending))
        close(CloseReason(.ok, "handed over"), answer: nil, &actions)
    }

    // MARK: Socket I/O of the session

    /// Reads from the relay into the engine (handshake and answer alike).
    private func receive(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        guard !s.receiving else { return }
        let input = s.engine.inbound
        let target = input.writePointer
        let count = input.contiguousWritable
        guard count > 0 else { return }
        input.pinned = true
        s.receiving = true
        actions.append(.receive(into: target, count: count))
    }

    /// Sends what the engine produced (handshake flights, the CONNECT request).
    private func flush(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        guard !s.sending else { return }
        let output = s.engine.outbound
        let count = output.readable
        guard count > 0 else { return }
        output.pinned = true
        s.sending = true
        actions.append(.send(from: UnsafeRawPointer(output.readPointer), count: count))
    }

    private var session: RelayTunnelSession? {
        switch state {
        case .handshake(let s), .awaitingAnswer(let s), .answered(let s, _): s
        case .created, .connecting, .closed: nil
        }
    }

    private mutating func received(_ result: Int32, _ actions: inout [Action]) {
        guard let s = session else { return }
        s.receiving = false
        s.engine.inbound.pinned = false
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            continueSetUp(s, &actions)
            return
        }
        if result < 0 { fail(.socketError(errno: -result), &actions); return }
        if result == 0 {
            s.relayClosed = true
        } else {
            s.engine.inbound.didWrite(Int(result))
        }
        continueSetUp(s, &actions)
    }

    private mutating func continueSetUp(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        switch state {
        case .handshake: driveHandshake(s, &actions)
        case .awaitingAnswer: readAnswer(s, &actions)
        case .answered: handOver(&actions)
        case .created, .connecting, .closed: break
        }
    }

    private mutating func sent(_ result: Int32, _ actions: inout [Action]) {
        guard let s = session else { return }
        s.sending = false
        s.engine.outbound.pinned = false
        if result < 0 && result != -EAGAIN && result != -EINTR {
            fail(.socketError(errno: -result), &actions)
            return
        }
        s.engine.outbound.consume(max(0, Int(result)))
        flush(s, &actions)
        if case .answered = state { handOver(&actions) }
    }

    // MARK: Closing

    /// Setting up failed: the connection answers its client with the failure's status.
    private mutating func fail(_ failure: RelayTunnelFailure, _ actions: inout [Action]) {
        close(failure.closeReason(relay: settings.relay), answer: failure.status, &actions)
    }

    private mutating func close(_ reason: CloseReason, answer: HTTPStatusResponse.Status?, _ actions: inout [Action]) {
        if case .closed = state { return }
        state = .closed(reason)
        actions.append(.close(reason, answer: answer))
    }
}
