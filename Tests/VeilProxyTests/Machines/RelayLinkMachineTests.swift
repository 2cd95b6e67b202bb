import Testing
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The life of one `--relay-mux on` connection alone: event lists in, actions out, no socket.
/// What the TLS engine says (fingerprint, ALPN) and what the H2 machine says (PING ACK, GOAWAY,
/// SETTINGS ACK) are events here, as `RelayMux` reports them.
@Suite("RelayLinkMachine: backoff -> connect -> TLS, pin, ALPN -> up, keepalive -> drain -> closed")
struct RelayLinkMachineTests {
    typealias M = RelayLinkMachine
    static let second: UInt64 = 1_000_000_000
    static let relay = "127.0.0.1:7443"
    static let pinned: [UInt8] = Array(repeating: 0xAB, count: 32)

    /// One link and every action it asked for, described.
    struct Run {
        var machine: M

        init(deadAfter: Int = 2) throws {
            let pin = try #require(RelayFingerprint(bytes: RelayLinkMachineTests.pinned))
            machine = M(settings: M.Settings(relay: RelayLinkMachineTests.relay, fingerprint: pin,
                                             connectTimeout: 10, keepalive: 15, deadAfter: deadAfter))
        }

        var state: M.State { machine.state }

        @discardableResult
        mutating func on(_ event: M.Event) -> [String] {
            var actions: [M.Action] = []
            machine.handle(event, &actions)
            return actions.map { a in
                switch a {
                case .setDeadline(let t): "deadline at \(Double(t) / Double(RelayLinkMachineTests.second))"
                case .connect: "connect"
                case .startTLS: "start TLS"
                case .exchangeHandshake: "exchange"
                case .up: "up"
                case .sendPing: "ping"
                case .retire: "retire"
                case .sendGoaway: "goaway"
                case .lost(let reason, let wasUp): "lost\(wasUp ? " (was up)" : ""): \(reason)"
                case .close: "close"
                }
            }
        }

        @discardableResult
        mutating func deadline(at seconds: Double, settingsPending: Bool = false) -> [String] {
            on(.deadline(now: UInt64(seconds * 1e9), awaitingSettingsAck: settingsPending))
        }

        /// Started at 0 (no backoff) and connected: the handshake under way.
        mutating func connected() {
            on(.start(now: 0, connectAt: 0))
            on(.connected(result: 0))
        }

        /// Up at `at` seconds, the relay pinned and speaking h2.
        mutating func up(at seconds: Double = 1) {
            connected()
            on(.handshake(.complete(fingerprint: RelayLinkMachineTests.pinned, alpn: "h2"), now: UInt64(seconds * 1e9)))
        }
    }

    // MARK: Connect

    @Test func waitsForTheBackoffThenConnectsWithOneSetUpDeadline() throws {
        var r = try Run()
        #expect(r.on(.start(now: Self.second, connectAt: 3 * Self.second)) == ["deadline at 3.0"])
        #expect(r.state == .waiting(connectAt: 3 * Self.second))
        #expect(r.deadline(at: 3) == ["deadline at 13.0", "connect"])
        #expect(r.on(.connected(result: 0)) == ["start TLS"])
        #expect(r.on(.handshake(.needsInput, now: 4 * Self.second)) == ["exchange"])
        #expect(r.state == .handshake(deadline: 13 * Self.second))
        // Without a backoff it connects at once; a second start changes nothing.
        var now = try Run()
        #expect(now.on(.start(now: 5 * Self.second, connectAt: 2 * Self.second)) == ["deadline at 15.0", "connect"])
        #expect(now.on(.start(now: 6 * Self.second, connectAt: 0)) == [])
    }

    @Test func aFailedConnectIsLostWithTheSystemsWords() throws {
        var r = try Run()
        r.on(.start(now: 0, connectAt: 0))
        #expect(r.on(.connected(result: -ECONNREFUSED)) == ["lost: relay 127.0.0.1:7443: connect: Connection refused"])
        #expect(r.state == .closed(.lost("relay 127.0.0.1:7443: connect: Connection refused")))
        // Nothing after the end: a late completion, the deadline.
        #expect(r.on(.connected(result: 0)) == [])
        #expect(r.deadline(at: 10) == [])

        var s = try Run()
        s.on(.start(now: 0, connectAt: 0))
        #expect(s.on(.socketFailed("socket: Too many open files")) == ["lost: relay 127.0.0.1:7443: socket: Too many open files"])
    }

    @Test func noTLSConnectionWithinTheConnectTimeout() throws {
        var connecting = try Run()
        connecting.on(.start(now: 0, connectAt: 0))
        #expect(connecting.deadline(at: 10) == ["lost: relay 127.0.0.1:7443: no TLS connection within 10.0 s"])
        var handshake = try Run()
        handshake.connected()
        handshake.on(.handshake(.needsInput, now: 1))
        #expect(handshake.deadline(at: 10) == ["lost: relay 127.0.0.1:7443: no TLS connection within 10.0 s"])
        // The relay closing during the handshake.
        var closed = try Run()
        closed.connected()
        #expect(closed.on(.transportEnded(.closed)) == ["lost: relay 127.0.0.1:7443 closed the connection"])
    }

    @Test func tlsSetUpFailures() throws {
        var noContext = try Run()
        noContext.connected()
        #expect(noContext.on(.tlsContextMissing) == ["lost: relay TLS context missing"])
        var setUp = try Run()
        setUp.connected()
        #expect(setUp.on(.tlsSetUpFailed("no memory")) == ["lost: relay TLS set-up: no memory"])
        var failed = try Run()
        failed.connected()
        #expect(failed.on(.handshake(.failed("alert 40"), now: 1)) == ["lost: relay 127.0.0.1:7443 TLS handshake: alert 40"])
    }

    // MARK: Pin and ALPN

    @Test func aCertificateThatIsNotThePinnedOneIsLostBeforeAnythingIsSent() throws {
        var r = try Run()
        r.connected()
        let got = Array(repeating: UInt8(0xCD), count: 32)
        let want = "relay certificate fingerprint mismatch (got \(String(repeating: "CD:", count: 31))CD, pinned \(String(repeating: "AB:", count: 31))AB)"
        #expect(r.on(.handshake(.complete(fingerprint: got, alpn: "h2"), now: 1)) == ["lost: " + want])
        #expect(r.state == .closed(.lost(want)))

        var none = try Run()
        none.connected()
        #expect(none.on(.handshake(.complete(fingerprint: nil, alpn: "h2"), now: 1)) == ["lost: relay sent no certificate"])
    }

    @Test func aRelayThatDoesNotChooseHTTP2IsLost() throws {
        var h1 = try Run()
        h1.connected()
        #expect(h1.on(.handshake(.complete(fingerprint: Self.pinned, alpn: "http/1.1"), now: 1))
            == ["lost: relay 127.0.0.1:7443 did not choose HTTP/2 (ALPN http/1.1)"])
        var none = try Run()
        none.connected()
        #expect(none.on(.handshake(.complete(fingerprint: Self.pinned, alpn: nil), now: 1))
            == ["lost: relay 127.0.0.1:7443 did not choose HTTP/2 (ALPN none)"])
    }

    // MARK: Keepalive

    @Test func upThenAPingEachIntervalAndDeadAfterTheUnansweredOnes() throws {
        var r = try Run(deadAfter: 2)
        r.connected()
        #expect(r.on(.handshake(.complete(fingerprint: Self.pinned, alpn: "h2"), now: Self.second)) == ["up", "deadline at 16.0"])
        #expect(r.machine.isUp && !r.machine.isRetiring)
        #expect(r.deadline(at: 16) == ["ping", "deadline at 31.0"])
        #expect(r.deadline(at: 31) == ["ping", "deadline at 46.0"])
        #expect(r.state == .up(M.Keepalive(unanswered: 2)))
        #expect(r.deadline(at: 46) == ["lost (was up): relay 127.0.0.1:7443: 2 PINGs unanswered (15.0 s apart)"])
        #expect(!r.machine.isUp && r.machine.isRetiring)
    }

    @Test func anAckResetsTheCount() throws {
        var r = try Run(deadAfter: 2)
        r.up(at: 1)
        r.deadline(at: 16)
        r.deadline(at: 31)
        #expect(r.on(.pingAcknowledged) == [])
        #expect(r.state == .up(M.Keepalive(unanswered: 0)))
        #expect(r.deadline(at: 46) == ["ping", "deadline at 61.0"])
        #expect(r.deadline(at: 61) == ["ping", "deadline at 76.0"])
        #expect(r.deadline(at: 76) == ["lost (was up): relay 127.0.0.1:7443: 2 PINGs unanswered (15.0 s apart)"])
    }

    @Test func settingsNotAcknowledgedByTheFirstKeepaliveIsASettingsTimeout() throws {
        var r = try Run()
        r.up(at: 1)
        #expect(r.deadline(at: 16, settingsPending: true)
            == ["lost (was up): relay 127.0.0.1:7443: SETTINGS not acknowledged within 15.0 s"])
        // Acknowledged: the keepalive goes on.
        var acked = try Run()
        acked.up(at: 1)
        #expect(acked.deadline(at: 16, settingsPending: false) == ["ping", "deadline at 31.0"])
    }

    @Test func transportAndHTTP2FailuresWhileUp() throws {
        let cases: [(M.Event, String)] = [
            (.transportEnded(.readError(-ECONNRESET)), "relay 127.0.0.1:7443: read: Connection reset by peer"),
            (.transportEnded(.sendError(-EPIPE)), "relay 127.0.0.1:7443: send: Broken pipe"),
            (.transportEnded(.closed), "relay 127.0.0.1:7443 closed the connection"),
            (.transportEnded(.closeNotify), "relay 127.0.0.1:7443 ended TLS (close_notify)"),
            (.transportEnded(.tlsReadFailed("bad record mac")), "relay 127.0.0.1:7443: TLS read: bad record mac"),
            (.h2Failed("PROTOCOL_ERROR: the peer's first frame is not SETTINGS"),
             "relay 127.0.0.1:7443: HTTP/2 PROTOCOL_ERROR: the peer's first frame is not SETTINGS"),
        ]
        for (event, reason) in cases {
            var r = try Run()
            r.up()
            #expect(r.on(event) == ["lost (was up): " + reason])
            #expect(r.on(event) == [], "lost once")
        }
    }

    // MARK: Drain and shutdown

    @Test func goawayDrainsWithKeepaliveAndClosesOnceTheStreamsHaveEnded() throws {
        var r = try Run()
        r.up(at: 1)
        #expect(r.on(.streamsEnded) == [], "an idle connection that is up stays")
        #expect(r.on(.goawayReceived) == ["retire"])
        #expect(r.state == .draining(M.Keepalive()))
        #expect(r.machine.isUp && r.machine.isRetiring)
        #expect(r.on(.goawayReceived) == [])
        // The streams it took still run: keepalive goes on, and so does dead detection.
        #expect(r.deadline(at: 16) == ["ping", "deadline at 31.0"])
        r.on(.pingAcknowledged)
        #expect(r.state == .draining(M.Keepalive(unanswered: 0)))
        #expect(r.on(.streamsEnded) == ["close"])
        #expect(r.state == .closed(.closed))
        #expect(r.deadline(at: 31) == [])
        #expect(r.on(.transportEnded(.closed)) == [], "closed: no relay down line after it")
    }

    @Test func streamIdsUsedUpRetireTheConnection() throws {
        var r = try Run()
        r.up()
        #expect(r.on(.cannotOpen) == ["retire"])
        #expect(r.on(.transportEnded(.closed)) == ["lost (was up): relay 127.0.0.1:7443 closed the connection"])
    }

    @Test func shutdownWhileUpSendsGoawayAndDrains() throws {
        var r = try Run()
        r.up()
        #expect(r.on(.shutdownRequested) == ["retire", "goaway"])
        #expect(r.on(.shutdownRequested) == [])
        #expect(r.on(.streamsEnded) == ["close"])
    }

    @Test func shutdownBeforeUpAbandonsTheSetUp() throws {
        var waiting = try Run()
        waiting.on(.start(now: 0, connectAt: 5 * Self.second))
        #expect(waiting.on(.shutdownRequested) == ["retire"])
        #expect(waiting.state == .draining(nil))
        #expect(!waiting.machine.isUp)
        #expect(waiting.on(.streamsEnded) == ["close"])

        var connecting = try Run()
        connecting.on(.start(now: 0, connectAt: 0))
        connecting.on(.shutdownRequested)
        #expect(connecting.on(.connected(result: 0)) == [], "no TLS once shutting down")
        #expect(connecting.on(.handshake(.complete(fingerprint: Self.pinned, alpn: "h2"), now: 1)) == [])
        #expect(connecting.deadline(at: 10) == ["lost: relay 127.0.0.1:7443: no TLS connection within 10.0 s"])
    }
}
