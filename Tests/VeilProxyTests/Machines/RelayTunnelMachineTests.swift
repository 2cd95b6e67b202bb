import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// A `--route tunnel` set-up alone: event lists in, actions out. The relay is a real OpenSSL
/// server engine presenting a self-signed identity (as `veil relay` does); the "socket" is the
/// test moving bytes between the machine's engine buffers and that engine.
@Suite("RelayTunnelMachine: connect -> TLS -> pin -> CONNECT -> answer -> hand-over")
struct RelayTunnelMachineTests {
    struct Fixture: Sendable {
        let identity: ServerIdentity
        let clientContext: TLSContext
    }

    /// The relay's identity and the client context Veil uses for relays (no chain check, TLS 1.3).
    static let fixture: Result<Fixture, any Error> = Result {
        var template = Array("/tmp/veil-tunnel-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } } ?? "/tmp"
        let ca = try CertificateAuthority.loadOrCreate(home: dir + "/home")
        var options = TLSContext.UpstreamOptions()
        options.verify = false
        options.minVersion = 0x0304
        return Fixture(identity: try ServerIdentity(authority: ca), clientContext: try TLSContext.upstream(options))
    }

    typealias M = RelayTunnelMachine
    static let second: UInt64 = 1_000_000_000
    static let relayName = "127.0.0.1:7443"
    static let request = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Authorization: Bearer s3cret\r\n\r\n"
    static let timeoutReason = "relay-failed: relay 127.0.0.1:7443 did not answer within 10s (connect, TLS handshake and CONNECT) [504]"

    /// One tunnel, the relay's engine, and the operations the machine asked for and has not seen
    /// complete.
    final class Run {
        var machine: M
        let relay: TLSEngine
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 18437, alignment: 16)
        var receiving: (UnsafeMutableRawPointer, Int)?
        var sending: (UnsafeRawPointer, Int)?
        var handed: (TLSEngine, [UInt8])?
        var all: [String] = []

        init(pinned: RelayFingerprint? = nil, secret: String = "s3cret", context: Bool = true) throws {
            let f = try RelayTunnelMachineTests.fixture.get()
            relay = try TLSEngine(context: try TLSContext.clientFacing(), role: .server)
            try relay.configureServer(identity: f.identity)
            let pin = try #require(pinned ?? RelayFingerprint(bytes: f.identity.fingerprint))
            machine = M(settings: M.Settings(
                relay: RelayTunnelMachineTests.relayName, fingerprint: pin, secret: secret,
                target: try HostPort(parsing: "example.com:443"), connectTimeout: 10,
                context: context ? f.clientContext : nil, scratch: scratch))
        }

        deinit { scratch.deallocate() }

        var state: M.State { machine.state }

        @discardableResult
        func on(_ event: M.Event) -> [String] {
            var actions: [M.Action] = []
            machine.handle(event, &actions)
            var described: [String] = []
            for a in actions {
                switch a {
                case .setDeadline(0): described.append("deadline none")
                case .setDeadline(let t): described.append("deadline at \(t / RelayTunnelMachineTests.second)")
                case .connect: described.append("connect")
                case .receive(let p, let n): receiving = (p, n); described.append("receive")
                case .send(let p, let n): sending = (p, n); described.append("send")
                case .handOver(let h, let pending): handed = (h.engine, pending); described.append("hand over \(pending.count)")
                case .close(let r, let answer):
                    described.append("close \(r.kind.rawValue): \(r.reason)" + (answer.map { " [\($0.rawValue)]" } ?? ""))
                }
            }
            all += described
            return described
        }

        /// Starts and connects: the ClientHello is to be sent.
        @discardableResult
        func connect() -> [String] {
            on(.start(now: 100 * RelayTunnelMachineTests.second))
            return on(.connected(result: 0))
        }

        /// Completes the send in flight (the relay receives it all, or `result`).
        @discardableResult
        func flush(_ result: Int32? = nil) -> [String] {
            guard let (p, n) = sending else { return [] }
            sending = nil
            if let result { return on(.sent(result: result)) }
            _ = relay.inbound.append(p, count: n)
            return on(.sent(result: Int32(n)))
        }

        /// Completes the receive in flight with what the relay wrote (or `result`).
        @discardableResult
        func deliver(_ result: Int32? = nil) -> [String] {
            guard let (p, n) = receiving else { return [] }
            receiving = nil
            if let result { return on(.received(result: result)) }
            let count = min(n, relay.outbound.readable)
            p.copyMemory(from: relay.outbound.readPointer, byteCount: count)
            relay.outbound.consume(count)
            return on(.received(result: Int32(count)))
        }

        /// Delivers raw bytes (not from the relay's engine) to the receive in flight.
        @discardableResult
        func deliverRaw(_ bytes: [UInt8]) -> [String] {
            guard let (p, _) = receiving else { return [] }
            receiving = nil
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return on(.received(result: Int32(bytes.count)))
        }

        /// Moves bytes both ways (the relay handshaking) until nothing moves.
        func shuttle() {
            for _ in 0..<50 {
                if !relay.isHandshakeComplete { _ = relay.handshake() }
                let before = all.count
                let moved = sending != nil || (receiving != nil && relay.outbound.readable > 0)
                flush()
                if !relay.isHandshakeComplete { _ = relay.handshake() }
                if relay.outbound.readable > 0 { deliver() }
                if all.count == before && !moved { break }
            }
        }

        /// What the relay read of the tunnel's plaintext (the CONNECT request).
        func relayReads() -> String {
            var out: [UInt8] = []
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 1)
            defer { buffer.deallocate() }
            while case .data(let n) = relay.read(into: buffer, max: 16 << 10) {
                out += Array(UnsafeRawBufferPointer(start: buffer, count: n))
            }
            return String(decoding: out, as: UTF8.self)
        }

        /// The relay writes `answer` (each element one record); nothing is delivered yet.
        func relayWrites(_ records: [[UInt8]]) {
            for r in records { _ = relay.write(r, count: r.count) }
        }

        /// Handshake done and the CONNECT request out: the machine awaits the answer.
        func awaitingAnswer() throws {
            connect()
            shuttle()
            guard case .awaitingAnswer = state else { throw Failure("not awaiting the answer: \(state)") }
        }

        /// The relay's 200 is in while the machine's last send (Finished + CONNECT) has not
        /// completed: the machine waits in `answered`. Returns the send's length.
        @discardableResult
        func answeredWithSendInFlight() throws -> Int {
            connect()
            for _ in 0..<10 {
                _ = relay.handshake()
                if case .awaitingAnswer = state { break }
                flush()
                _ = relay.handshake()
                if relay.outbound.readable > 0 { deliver() }
            }
            guard case .awaitingAnswer = state, let (p, n) = sending else { throw Failure("no send in flight: \(state)") }
            _ = relay.inbound.append(p, count: n)  // the relay has the bytes; the completion has not come
            _ = relay.handshake()
            guard relayReads() == RelayTunnelMachineTests.request else { throw Failure("the relay read no request") }
            relayWrites([RelayTunnelMachineTests.bytes("HTTP/1.1 200 OK\r\n\r\n")])
            guard receiving != nil else { throw Failure("no receive in flight") }
            guard deliver() == [], case .answered(_, let pending) = state, pending.isEmpty else {
                throw Failure("not answered: \(state)")
            }
            return n
        }

        var closeReason: String? { all.last(where: { $0.hasPrefix("close ") }).map { String($0.dropFirst(6)) } }

        var keepsSession: Bool {
            if case .closed(_, let kept) = state { return kept != nil }
            return false
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // MARK: Success

    @Test func theRelaysTwoHundredHandsTheSessionOverWithTheBytesThatCameWithIt() throws {
        let r = try Run()
        #expect(r.on(.start(now: 100 * Self.second)) == ["deadline at 110", "connect"])
        guard case .connecting = r.state else { Issue.record("not connecting: \(r.state)"); return }
        #expect(r.on(.connected(result: 0)) == ["send", "receive"])  // the ClientHello
        guard case .handshake = r.state else { Issue.record("not in the handshake: \(r.state)"); return }
        r.shuttle()
        guard case .awaitingAnswer = r.state else { Issue.record("not awaiting the answer: \(r.state)"); return }
        #expect(r.relayReads() == Self.request)
        r.relayWrites([Self.bytes("HTTP/1.1 200 Connection established\r\n\r\nearly")])
        #expect(r.deliver() == ["deadline none", "hand over 5", "close ok: handed over"])
        #expect(r.handed.map { String(decoding: $0.1, as: UTF8.self) } == "early")
        #expect(r.handed?.0.isHandshakeComplete == true)
        #expect(!r.keepsSession)  // the session is the front's now
        #expect(r.machine.closeReason == CloseReason(.ok, "handed over"))
        // Nothing reaches a closed tunnel.
        #expect(r.on(.deadlinePassed) == [])
        #expect(r.on(.connectionFinished) == [])
        #expect(r.on(.received(result: 5)) == [])
    }

    @Test func aSendInFlightHoldsTheHandOverUntilItCompletes() throws {
        let r = try Run()
        let n = try r.answeredWithSendInFlight()
        r.sending = nil
        #expect(r.on(.sent(result: Int32(n))) == ["deadline none", "hand over 0", "close ok: handed over"])
    }

    @Test func aPartialSendInFlightHoldsTheHandOverUntilTheRestIsOut() throws {
        let r = try Run()
        let n = try r.answeredWithSendInFlight()
        r.sending = nil
        #expect(r.on(.sent(result: Int32(n - 1))) == ["send"])  // the last byte again
        #expect(r.flush() == ["deadline none", "hand over 0", "close ok: handed over"])
    }

    @Test func aTimeoutWhileTheHandOverWaitsFails() throws {
        let r = try Run()
        try r.answeredWithSendInFlight()
        #expect(r.on(.deadlinePassed) == ["close " + Self.timeoutReason])
        #expect(r.keepsSession)  // the send is still in flight
        r.machine.release()
        #expect(!r.keepsSession)
        // The owner releases once nothing is in flight: a late completion changes nothing. (The
        // send's bytes went with the session: its engine buffer is unmapped, not read here.)
        if let (_, n) = r.sending {
            r.sending = nil
            #expect(r.on(.sent(result: Int32(n))) == [])
        }
    }

    @Test func anAnswerInPiecesIsAssembledAndTemporaryErrorsReceiveAgain() throws {
        let r = try Run()
        r.connect()
        #expect(r.deliver(-EAGAIN) == ["receive"])
        r.shuttle()
        guard case .awaitingAnswer = r.state else { Issue.record("not awaiting: \(r.state)"); return }
        #expect(r.deliver(-EINTR) == ["receive"])
        r.relayWrites([Self.bytes("HTTP/1.1 200 OK\r\n"), Self.bytes("Via: relay\r\n")])
        #expect(r.deliver() == ["receive"])
        r.relayWrites([Self.bytes("\r\nhello")])
        #expect(r.deliver() == ["deadline none", "hand over 5", "close ok: handed over"])
        // A send that made no progress is retried.
        let s = try Run()
        s.connect()
        #expect(s.flush(-EAGAIN) == ["send"])
    }

    // MARK: The relay cannot be reached

    @Test func aRefusedConnectFailsWithTheSystemsWords() throws {
        let r = try Run()
        r.on(.start(now: 0))
        #expect(r.on(.connected(result: -ECONNREFUSED))
            == ["close relay-failed: relay 127.0.0.1:7443: Connection refused [502]"])
        #expect(!r.keepsSession)
    }

    @Test func noSocketFails() throws {
        let r = try Run()
        r.on(.start(now: 0))
        #expect(r.on(.socketFailed(SystemError("socket", code: EMFILE)))
            == ["close relay-failed: relay 127.0.0.1:7443: socket: Too many open files [502]"])
        #expect(r.on(.socketFailed(SystemError("socket", code: EMFILE))) == [])
    }

    @Test func noRelayContextFails() throws {
        let r = try Run(context: false)
        r.on(.start(now: 0))
        #expect(r.on(.connected(result: 0)) == ["close relay-failed: relay: no TLS context [502]"])
    }

    @Test func eventsOutOfOrderAreIgnored() throws {
        let r = try Run()
        #expect(r.on(.connected(result: 0)) == [])
        #expect(r.on(.received(result: 10)) == [])
        #expect(r.on(.sent(result: 10)) == [])
        #expect(r.on(.deadlinePassed) == [])
        r.on(.start(now: 0))
        #expect(r.on(.start(now: 0)) == [])
        #expect(r.on(.received(result: 10)) == [])
    }

    // MARK: TLS and the certificate

    @Test func somethingThatIsNotTLSFailsTheHandshake() throws {
        let r = try Run()
        r.connect()
        r.flush()
        let out = r.deliverRaw(Self.bytes("HTTP/1.1 400 Bad Request\r\n\r\n"))
        #expect(out.count == 1)
        #expect(r.closeReason?.hasPrefix("relay-failed: relay 127.0.0.1:7443: TLS handshake: ") == true)
        #expect(r.closeReason?.hasSuffix("[502]") == true)
        #expect(r.keepsSession)
    }

    @Test func theRelayClosingDuringTheHandshakeFails() throws {
        let r = try Run()
        r.connect()
        r.flush()
        #expect(r.deliver(0) == ["close relay-failed: relay 127.0.0.1:7443 closed the connection during the TLS handshake [502]"])
    }

    @Test func aCertificateThatIsNotThePinnedOneFailsBeforeAnythingIsSent() throws {
        let pin = try #require(RelayFingerprint(bytes: [UInt8](repeating: 0xAB, count: 32)))
        let r = try Run(pinned: pin)
        r.connect()
        r.flush()
        _ = r.relay.handshake()
        let got = RelayFingerprint.format(try RelayTunnelMachineTests.fixture.get().identity.fingerprint)
        #expect(r.deliver() == ["close relay-failed: relay certificate fingerprint mismatch (got \(got), pinned \(pin)) [502]"])
        // Not even the client's Finished went out: the relay never saw the request.
        #expect(r.sending == nil)
        #expect(r.relayReads() == "")
    }

    @Test func aRequestTooLargeForTheEngineFails() throws {
        let r = try Run(secret: String(repeating: "x", count: 80 << 10))
        r.connect()
        r.shuttle()
        #expect(r.closeReason == "relay-failed: relay: could not queue the CONNECT request [502]")
    }

    // MARK: The relay's answer

    @Test func aWrongSecretsFourOhSevenIsAuthFailed() throws {
        let r = try Run()
        try r.awaitingAnswer()
        r.relayWrites([Self.bytes("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 13\r\n\r\nwrong secret\n")])
        #expect(r.deliver() == ["close auth-failed: relay: 407 wrong secret [502]"])
        #expect(r.keepsSession)
    }

    @Test func otherAnswersAreRelayFailedWithTheirBodyOrPhrase() throws {
        for (answer, reason) in [
            ("HTTP/1.1 403 Forbidden\r\nContent-Length: 23\r\n\r\nport 25 is not allowed\n", "relay: 403 port 25 is not allowed"),
            ("HTTP/1.1 502 Bad Gateway\r\n\r\n", "relay: 502 Bad Gateway"),
            ("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", "relay: 429 Too Many Requests"),
            ("SSH-2.0-OpenSSH\r\n\r\n", "relay: 0 not an HTTP answer: SSH-2.0-OpenSSH"),
        ] {
            let r = try Run()
            try r.awaitingAnswer()
            r.relayWrites([Self.bytes(answer)])
            #expect(r.deliver() == ["close relay-failed: \(reason) [502]"])
        }
    }

    @Test func anErrorWaitsForItsBody() throws {
        let r = try Run()
        try r.awaitingAnswer()
        r.relayWrites([Self.bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nnot ")])
        #expect(r.deliver() == ["receive"])
        r.relayWrites([Self.bytes("here\n")])
        #expect(r.deliver() == ["close relay-failed: relay: 403 not here [502]"])
    }

    @Test func theRelayClosingBeforeItsAnswerFails() throws {
        // A bare FIN.
        let r = try Run()
        try r.awaitingAnswer()
        #expect(r.deliver(0) == ["close relay-failed: relay 127.0.0.1:7443 closed the connection without answering CONNECT [502]"])
        // close_notify after half a head.
        let s = try Run()
        try s.awaitingAnswer()
        s.relayWrites([Self.bytes("HTTP/1.1 200 OK\r\n")])
        s.relay.close()
        #expect(s.deliver() == ["close relay-failed: relay 127.0.0.1:7443 closed the connection without answering CONNECT [502]"])
        // An error whose body was cut short: what came is the reason.
        let t = try Run()
        try t.awaitingAnswer()
        t.relayWrites([Self.bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 50\r\n\r\nshort")])
        #expect(t.deliver() == ["receive"])
        #expect(t.deliver(0) == ["close relay-failed: relay: 403 short [502]"])
    }

    @Test func oversizedAnswersFail() throws {
        let r = try Run()
        try r.awaitingAnswer()
        r.relayWrites([[UInt8](repeating: 0x41, count: 9000)])
        #expect(r.deliver() == ["close relay-failed: relay: answer head too large [502]"])
        let s = try Run()
        try s.awaitingAnswer()
        s.relayWrites([[UInt8](repeating: 0x41, count: 8000), [UInt8](repeating: 0x42, count: 16 << 10)])
        #expect(s.deliver() == ["close relay-failed: relay: answer too large [502]"])
    }

    @Test func aRecordThatDoesNotAuthenticateFails() throws {
        let r = try Run()
        try r.awaitingAnswer()
        let out = r.deliverRaw(TLSBytes.applicationData(40))
        #expect(out.count == 1)
        #expect(r.closeReason?.hasPrefix("relay-failed: relay 127.0.0.1:7443: ") == true)
        #expect(r.closeReason?.hasSuffix("[502]") == true)
    }

    // MARK: Socket errors

    @Test func socketErrorsFailInEachState() throws {
        let r = try Run()
        r.connect()
        #expect(r.deliver(-ECONNRESET) == ["close relay-failed: relay 127.0.0.1:7443: Connection reset by peer [502]"])
        let s = try Run()
        s.connect()
        #expect(s.flush(-EPIPE) == ["close relay-failed: relay 127.0.0.1:7443: Broken pipe [502]"])
        let t = try Run()
        try t.awaitingAnswer()
        #expect(t.deliver(-ETIMEDOUT) == ["close relay-failed: relay 127.0.0.1:7443: Connection timed out [502]"])
    }

    // MARK: The deadline, the client, shutdown: in each state

    /// A run brought to each set-up state.
    static func inEachState() throws -> [(String, Run)] {
        let connecting = try Run()
        connecting.on(.start(now: 0))
        let handshake = try Run()
        handshake.connect()
        let answer = try Run()
        try answer.awaitingAnswer()
        let answered = try Run()
        try answered.answeredWithSendInFlight()
        return [("connecting", connecting), ("handshake", handshake), ("awaitingAnswer", answer), ("answered", answered)]
    }

    @Test func theDeadlineFailsEachStateWithGatewayTimeout() throws {
        for (name, r) in try Self.inEachState() {
            #expect(r.on(.deadlinePassed) == ["close " + Self.timeoutReason], "\(name)")
            #expect(r.on(.deadlinePassed) == [], "\(name)")
        }
    }

    @Test func theClientLeavingEndsEachStateWithoutAnAnswer() throws {
        for (name, r) in try Self.inEachState() {
            #expect(r.on(.connectionFinished) == ["close ok: connection ended"], "\(name)")
            // A late completion finds the tunnel closed.
            #expect(r.on(.received(result: 0)) == [], "\(name)")
            #expect(r.on(.sent(result: 10)) == [], "\(name)")
            #expect(r.on(.connected(result: 0)) == [], "\(name)")
        }
        let created = try Run()
        #expect(created.on(.connectionFinished) == ["close ok: connection ended"])
        #expect(created.on(.start(now: 0)) == [])
    }

    @Test func shutdownClosesEachState() throws {
        for (name, r) in try Self.inEachState() {
            #expect(r.on(.closeRequested(CloseReason(.shutdown, "closed at shutdown"))) == ["close shutdown: closed at shutdown"], "\(name)")
            #expect(r.on(.connectionFinished) == [], "\(name)")
        }
    }

    // MARK: Reasons

    @Test func everyFailureHasItsReasonAndStatus() {
        let relay = "[::1]:7443"
        let cases: [(RelayTunnelFailure, String)] = [
            (.setUp("boom"), "relay-failed: relay TLS set-up: boom [502]"),
            (.noCertificate, "relay-failed: relay [::1]:7443 presented no certificate [502]"),
            (.tooMuchAfterAnswer, "relay-failed: relay: too much data after its 200 [502]"),
            (.read("read: bad record mac"), "relay-failed: relay [::1]:7443: read: bad record mac [502]"),
            (.timeout(seconds: 2.5), "relay-failed: relay [::1]:7443 did not answer within 2s (connect, TLS handshake and CONNECT) [504]"),
            (.refused(status: 407, reason: "no"), "auth-failed: relay: 407 no [502]"),
        ]
        for (failure, text) in cases {
            let r = failure.closeReason(relay: relay)
            #expect("\(r.kind.rawValue): \(r.reason) [\(failure.status.rawValue)]" == text)
        }
    }
}
