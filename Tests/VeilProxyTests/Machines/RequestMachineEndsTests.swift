import Testing
import VeilWire
import VeilResolver
import VeilRuntime
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Every way the request phase ends (each `close=` token it can produce) and every deadline in
/// each of its states.
@Suite("RequestMachine: ends and deadlines")
struct RequestMachineEndsTests {
    typealias Run = RequestMachineTests.Run
    static let second = Run.second
    static let addr = RequestMachineTests.addr

    static func tunnelConfig(_ change: (inout ProxyConfiguration) -> Void = { _ in }) -> ProxyConfiguration {
        Run.config {
            $0.route = .tunnel
            if let fp = RelayFingerprint(bytes: Array(repeating: 7, count: 32)) {
                $0.relay = RelayEndpoint(address: addr, fingerprint: fp, secret: "s")
            }
            change(&$0)
        }
    }

    /// Sends the staged answer whole, lets the client close, and returns the close action.
    static func answerOutAndClosed(_ r: Run) -> String {
        #expect(r.on(.answerSent(4096, now: r.now)).suffix(3) == ["answer complete", "shutdown", "linger"])
        return r.on(.lingerReceived(0)).last ?? "nothing"
    }

    static func reading(_ r: Run, _ request: String) -> [String] {
        _ = r.start()
        return r.arrive(request)
    }

    static func users() throws -> ProxyUsers {
        var users = ProxyUsers()
        try users.add(entry: "carol:pw", origin: "t")
        return users
    }

    static func hashedUsers() throws -> ProxyUsers {
        var users = ProxyUsers()
        let hash = try #require(ProxyUsers.crypt("pw", setting: "$5$abcdefgh$"))
        let file = "/tmp/veil-test-ends-users-\(getpid())"
        let line = Array("carol:\(hash)\n".utf8)
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(file) }
        try users.add(file: file)
        return users
    }

    static let resolved = ResolveOutcome.success(ResolvedAddresses(addresses: [addr], source: "static"))

    /// Each scenario: the answer's status, and the close token the connection ends with.
    @Test("every close token of the request phase", arguments: [
        "ok", "bad-request", "bad-request-forward", "forbidden", "method-not-allowed", "header-too-large",
        "header-timeout", "resolve-failed", "resolve-timeout", "unreachable", "connect-timeout",
        "overloaded", "ktls-unavailable", "auth-failed", "rate-limited", "relay-failed",
        "relay-auth-failed", "shutdown", "error-auth-timeout", "error-tunnel",
    ])
    func closeTokens(scenario: String) throws {
        let want: (status: String, close: String)
        let r: Run
        switch scenario {
        case "ok":
            r = Run(gate: RelayGate(settings: RelayServerSettings(secret: "s3cret")))
            _ = Self.reading(r, "RESOLVE 127.0.0.1:443 HTTP/1.1\r\nProxy-Authorization: Bearer s3cret\r\n\r\n")
            want = ("200", "close ok: resolved to 127.0.0.1 from literal")
        case "bad-request":
            r = Run()
            _ = Self.reading(r, "GET / HTTP/1.1\r\n\r\n")
            want = ("400", "close bad-request:")
        case "bad-request-forward":
            r = Run()
            _ = Self.reading(r, "POST http://p.test/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
            want = ("400", "close bad-request:")
        case "forbidden":
            r = Run(Run.config { $0.rules = try! AccessRules(allow: [], deny: ["*:22"]) })
            _ = Self.reading(r, "CONNECT x.test:22 HTTP/1.1\r\n\r\n")
            want = ("403", "close forbidden:")
        case "method-not-allowed":
            r = Run()
            _ = Self.reading(r, "connect x.test:22 HTTP/1.1\r\n\r\n")
            want = ("405", "close method-not-allowed:")
        case "header-too-large":
            r = Run(Run.config { $0.maxHeaderBytes = 64 })
            _ = Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\nX: " + String(repeating: "a", count: 80))
            want = ("431", "close header-too-large:")
        case "header-timeout":
            r = Run()
            _ = r.start()
            r.on(.deadline(now: r.now + 10 * Self.second))
            want = ("408", "close header-timeout: no complete CONNECT request within 10s")
        case "resolve-failed":
            r = Run()
            _ = Self.reading(r, "CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n")
            r.on(.resolved(.failure("no such name"), immediately: true, now: r.now))
            want = ("502", "close resolve-failed: no such name")
        case "resolve-timeout":
            r = Run()
            _ = Self.reading(r, "CONNECT slow.test:443 HTTP/1.1\r\n\r\n")
            r.on(.deadline(now: r.now + 10 * Self.second))
            want = ("504", "close resolve-failed: resolver static did not answer within 10s")
        case "unreachable":
            r = Run()
            #expect(Self.reading(r, "CONNECT 127.0.0.1:4433 HTTP/1.1\r\n\r\n").last == "connect 127.0.0.1:4433")
            r.on(.connected(-ECONNREFUSED, now: r.now))
            want = ("502", "close unreachable: connect to 127.0.0.1:4433: Connection refused")
        case "connect-timeout":
            r = Run(Run.config { $0.connectTimeout = 2.5 })
            _ = Self.reading(r, "CONNECT [::1]:4433 HTTP/1.1\r\n\r\n")
            #expect(r.on(.deadline(now: r.now + 3 * Self.second)) == ["cancel connect"])
            r.on(.connected(-ECANCELED, now: r.now))
            want = ("504", "close connect-timeout: connect to [::1]:4433 timed out after 2.5s")
        case "overloaded":
            r = Run()
            r.on(.refused(CloseReason(.overloaded, "refused: 1 connections open (--max-connections)"), graceDeadline: nil, now: r.now))
            want = ("503", "close overloaded: refused: 1 connections open (--max-connections)")
        case "ktls-unavailable":
            r = Run(Run.config { $0.mode = .intercept; $0.ktls = .require })
            _ = Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\n\r\n")
            want = ("503", "close ktls-unavailable: --ktls require: kernel TLS is ")
        case "auth-failed":
            r = Run(users: try Self.users())
            _ = Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6bm8=\r\n\r\n")
            want = ("407", "close auth-failed:")
        case "rate-limited":
            let auth = ProxyAuthenticator(users: try Self.users(), failures: AuthFailureLimiter(limit: 2, window: 60, block: 30))
            for _ in 0..<2 {
                let wrong = Run(authenticator: auth)
                #expect(Self.reading(wrong, "CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6bm8=\r\n\r\n")
                            .suffix(2) == ["answer 407", "send 0"])
            }
            r = Run(authenticator: auth)
            _ = Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n")
            want = ("429", "close rate-limited: too many failed proxy logins from 192.0.2.9")
        case "relay-failed", "relay-auth-failed":
            r = Run(Self.tunnelConfig())
            _ = Self.reading(r, "CONNECT far.test:443 HTTP/1.1\r\n\r\n")
            let auth = scenario == "relay-auth-failed"
            r.on(.tunnelFailed(.badGateway, CloseReason(auth ? .authFailed : .relayFailed, "relay: no"), now: r.now))
            want = ("502", auth ? "close auth-failed: relay: no" : "close relay-failed: relay: no")
        case "shutdown":
            r = Run()
            _ = Self.reading(r, "CONNECT slow.test:443 HTTP/1.1\r\n\r\n")
            r.on(.shutdown(graceDeadline: r.now + 10 * Self.second, now: r.now))
            want = ("503", "close shutdown: proxy shutting down")
        case "error-auth-timeout":
            r = Run(users: try Self.hashedUsers())
            _ = Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n")
            r.on(.deadline(now: r.now + 10 * Self.second))
            want = ("503", "close error: proxy credentials could not be checked within 10s")
        default:
            r = Run(Self.tunnelConfig())
            _ = Self.reading(r, "CONNECT far.test:443 HTTP/1.1\r\n\r\n")
            r.on(.tunnelFailed(.badGateway, CloseReason(.error, "tunnel: Too many open files"), now: r.now))
            want = ("502", "close error: tunnel: Too many open files")
        }
        guard case .answering(let a, _) = r.state else {
            Issue.record("\(scenario): not answering but \(r.state)")
            return
        }
        #expect(a.length > 0)
        let closed = Self.answerOutAndClosed(r)
        #expect(closed.hasPrefix(want.close), "\(scenario): \(closed)")
        guard case .closed = r.state else { Issue.record("\(scenario): not closed"); return }
        _ = want.status
    }

    /// The close tokens of the request phase that end without an answer (the client is gone).
    @Test func clientGoneWithoutAnAnswer() {
        let r = Run()
        _ = r.start()
        #expect(r.on(.received(-EAGAIN, now: r.now)) == ["receive 0+8192"])
        #expect(r.on(.received(0, now: r.now)) == ["close client-gone: client closed without sending a request"])
        // Nothing more happens once closed.
        #expect(r.on(.received(5, now: r.now)).isEmpty)
        #expect(r.on(.deadline(now: r.now + 100 * Self.second)).isEmpty)
        #expect(r.on(.shutdown(graceDeadline: r.now, now: r.now)).isEmpty)
    }

    // MARK: Deadlines in each state

    @Test func deadlineWhileAuthenticating() throws {
        let r = Run(users: try Self.hashedUsers())
        #expect(Self.reading(r, "CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n") == ["verify carol"])
        #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(r.now + 10 * Self.second)"])
        #expect(r.on(.deadline(now: r.now + 10 * Self.second)).suffix(2) == ["answer 503", "send 0"])
        // The check that comes back late changes nothing.
        let creds = try #require(BasicCredentials(header: "Basic Y2Fyb2w6cHc="))
        #expect(r.on(.authChecked(AuthOutcome(credentials: creds, key: [1], valid: true), now: r.now)).isEmpty)
    }

    @Test func deadlineWhileResolving() {
        let r = Run()
        _ = Self.reading(r, "CONNECT slow.test:443 HTTP/1.1\r\n\r\n")
        #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(r.now + 10 * Self.second)"])
        #expect(r.on(.deadline(now: r.now + 10 * Self.second)).suffix(2) == ["answer 504", "send 0"])
        // A late answer from the resolver is not counted or used.
        #expect(r.on(.resolved(Self.resolved, immediately: false, now: r.now)).isEmpty)
    }

    @Test func deadlineWhileConnecting() {
        let r = Run()
        _ = Self.reading(r, "CONNECT 127.0.0.1:4433 HTTP/1.1\r\n\r\n")
        #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(r.now + 10 * Self.second)"])
        #expect(r.on(.deadline(now: r.now + 10 * Self.second)) == ["cancel connect"])
        // The connect finished before the cancel took: the tunnel is up after all.
        #expect(r.on(.connected(0, now: r.now)).suffix(2) == ["answer 200", "send 0"])
        #expect(r.on(.connectFailedToStart("late", now: r.now)).isEmpty)
    }

    @Test func deadlineWhileTunnelling() {
        let r = Run(Self.tunnelConfig())
        #expect(Self.reading(r, "CONNECT far.test:443 HTTP/1.1\r\n\r\n") == ["deadline 0", "tunnel far.test:443"])
        #expect(r.summary.route == .tunnel && r.summary.relay == "127.0.0.1:4433")
        // The tunnel keeps its own deadline.
        #expect(r.on(.deadline(now: r.now + 100 * Self.second)).isEmpty)
        #expect(r.on(.tunnelEstablished(path: .ktls, note: nil, now: r.now)).suffix(2) == ["answer 200", "send 0"])
        #expect(r.summary.tunnelPath == .ktls)
        #expect(r.on(.tunnelFailed(.badGateway, CloseReason(.relayFailed, "late"), now: r.now)).isEmpty)
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over passthrough 33..<33"])
        #expect(r.summary.mode == .passthrough)
    }

    @Test func deadlineWhileAnswering() {
        let r = Run()
        _ = Self.reading(r, "GET / HTTP/1.1\r\n\r\n")
        #expect(r.machine.pendingClose?.kind == .badRequest)
        #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(r.now + 10 * Self.second)"])
        #expect(r.on(.deadline(now: r.now + 10 * Self.second)).first?.hasPrefix("close bad-request:") == true)
    }

    @Test func deadlineWhileLingering() {
        let r = Run()
        _ = Self.reading(r, "GET / HTTP/1.1\r\n\r\n")
        r.on(.answerSent(4096, now: r.now))
        #expect(r.machine.pendingClose?.kind == .badRequest)
        #expect(r.on(.lingerReceived(-EAGAIN)) == ["linger"])
        #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(r.now + 2 * Self.second)"])
        #expect(r.on(.deadline(now: r.now + 2 * Self.second)).first?.hasPrefix("close bad-request:") == true)
    }

    @Test func afterHandOverTheMachineIsDone() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT 127.0.0.1:4433 HTTP/1.1\r\n\r\n")
        r.on(.connected(0, now: r.now))
        #expect(r.machine.pendingClose == nil)  // a 200 closes nothing
        #expect(r.on(.answerSent(39, now: r.now)) == ["hand over passthrough 35..<35"])
        #expect(r.machine.pendingClose == nil)
        for event: RequestMachine.Event in [.deadline(now: r.now + 100 * Self.second), .received(3, now: r.now),
                                            .answerSent(3, now: r.now), .lingerReceived(0), .connected(0, now: r.now),
                                            .shutdown(graceDeadline: r.now, now: r.now)] {
            #expect(r.on(event).isEmpty)
        }
    }

    @Test func theGracePeriodEndsEveryState() throws {
        let grace = 1_003 * Self.second
        for request in ["", "CONNECT slow.test:443 HTTP/1.1\r\n\r\n", "CONNECT 127.0.0.1:4433 HTTP/1.1\r\n\r\n"] {
            let r = Run()
            _ = r.start()
            if !request.isEmpty { r.arrive(request) }
            r.on(.shutdown(graceDeadline: grace, now: r.now))
            // The 503's deadline is the grace period's end, the earlier one.
            #expect(r.on(.deadline(now: r.now + Self.second)) == ["deadline \(grace)"])
            r.on(.answerSent(4096, now: r.now))
            // Lingering: its own deadline (2 s) comes first.
            #expect(r.on(.shutdown(graceDeadline: grace, now: r.now)) == ["deadline \(r.now + 2 * Self.second)"])
            #expect(r.on(.deadline(now: grace)) == ["close shutdown: closed at shutdown: grace period of 10s ended"])
        }
        let t = Run(Self.tunnelConfig())
        _ = Self.reading(t, "CONNECT far.test:443 HTTP/1.1\r\n\r\n")
        #expect(t.on(.shutdown(graceDeadline: grace, now: t.now)).first == "stop tunnel")
        let refused = Run()
        #expect(refused.on(.refused(CloseReason(.shutdown, "refused: proxy shutting down"), graceDeadline: grace, now: refused.now))
                    == ["deadline \(grace)", "answer 503", "send 0"])
    }

    // MARK: Other paths

    @Test func literalTargetsAreNotResolved() {
        let r = Run()
        _ = r.start()
        #expect(r.arrive("CONNECT [::1]:4433 HTTP/1.1\r\n\r\n") == ["deadline \(r.now + 10 * Self.second)", "connect [::1]:4433"])
    }

    @Test func plainHTTPThroughTheTunnel() {
        let r = Run(Self.tunnelConfig())
        _ = r.start()
        #expect(r.arrive("GET http://far.test/x HTTP/1.1\r\n\r\n").last == "tunnel far.test:80")
        #expect(r.on(.tunnelEstablished(path: .userspace, note: "no kTLS", now: r.now)) == ["forward GET /x 34..<34"])
        #expect(r.summary.tunnelNote == "no kTLS")
    }

    @Test func resolveAnswersOnTheRelay() {
        let gate = RelayGate(settings: RelayServerSettings(secret: "s3cret"))
        let r = Run(gate: gate)
        _ = Self.reading(r, "RESOLVE gone.test:443 HTTP/1.1\r\nProxy-Authorization: Bearer s3cret\r\n\r\n")
        #expect(r.on(.resolved(.failure("no such name"), immediately: true, now: r.now)).suffix(2) == ["answer 502", "send 0"])
        #expect(Self.answerOutAndClosed(r) == "close resolve-failed: no such name")
    }

    @Test func anAnswerTheClientCannotTake() {
        let r = Run()
        _ = Self.reading(r, "GET / HTTP/1.1\r\n\r\n")
        #expect(r.on(.answerSent(-EPIPE, now: r.now)).first?.hasPrefix("close bad-request:") == true)
        let l = Run()
        _ = Self.reading(l, "GET / HTTP/1.1\r\n\r\n")
        l.on(.answerSent(4096, now: l.now))
        #expect(l.on(.lingerReceived(-ECONNRESET)).first?.hasPrefix("close bad-request:") == true)
    }
}
