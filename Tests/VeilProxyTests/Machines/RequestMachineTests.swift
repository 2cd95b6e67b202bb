import Testing
import VeilWire
import VeilResolver
import VeilRuntime
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The request machine alone: event lists in, actions out, no sockets.
@Suite("RequestMachine: request -> admit -> resolve -> connect -> answer")
struct RequestMachineTests {
    /// A machine with its request buffer, the summary it fills and the actions of the last event.
    final class Run {
        static let second: UInt64 = 1_000_000_000
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 18437, alignment: 16)
        var machine: RequestMachine
        var summary = ConnectionSummary(id: 1, started: 0, client: "192.0.2.9:4000", mode: .intercept)
        var now: UInt64 = 1_000 * Run.second
        /// The bytes of the last answer staged.
        var lastAnswer: [UInt8] = []

        init(_ config: ProxyConfiguration = Run.config(), gate: RelayGate? = nil, users: ProxyUsers? = nil,
             authenticator: ProxyAuthenticator? = nil,
             kernelTLS: KernelTLS.Availability? = .unavailable("test"), viaListener: Bool = false) {
            let auth = authenticator
                ?? users.map { ProxyAuthenticator(users: $0, failures: AuthFailureLimiter(limit: 2, window: 60, block: 30)) }
            let policy = RequestPolicy(config: config, gate: gate, authenticator: auth, kernelTLS: kernelTLS,
                                       parser: ConnectRequestParser(maxHeaderBytes: config.maxHeaderBytes,
                                                                    allowsResolve: gate != nil, allowsForward: gate == nil),
                                       resolverName: "static", ttlHint: { _, _ in 77 })
            machine = RequestMachine(policy: policy, viaListener: viaListener)
        }

        deinit { buffer.deallocate() }

        static func config(_ change: (inout ProxyConfiguration) -> Void = { _ in }) -> ProxyConfiguration {
            var c = ProxyConfiguration()
            c.mode = .passthrough
            change(&c)
            return c
        }

        @discardableResult
        func on(_ event: RequestMachine.Event) -> [String] {
            var actions: [RequestMachine.Action] = []
            machine.handle(event, summary: &summary, &actions)
            for case .stageAnswer(let bytes) in actions { lastAnswer = bytes }
            return actions.map(Run.describe)
        }

        /// The client's bytes arrive (appended to what the buffer holds).
        @discardableResult
        func arrive(_ text: String) -> [String] {
            let bytes = Array(text.utf8)
            (buffer + machine.filled).copyMemory(from: bytes, byteCount: bytes.count)
            return on(.received(Int32(bytes.count), now: now))
        }

        func start() -> [String] { on(.start(buffer: buffer, capacity: 18437, now: now)) }

        static func describe(_ a: RequestMachine.Action) -> String {
            switch a {
            case .receive(let offset, let count): return "receive \(offset)+\(count)"
            case .verifyCredentials(let c, _): return "verify \(c.user)"
            case .resolve(let t): return "resolve \(t)"
            case .resolveWithHTTPS(let t): return "resolve+https \(t)"
            case .connect(let a): return "connect \(a)"
            case .cancelConnect: return "cancel connect"
            case .closeUpstream: return "close upstream"
            case .startTunnel(let t, _): return "tunnel \(t)"
            case .stopTunnel: return "stop tunnel"
            case .stageAnswer(let bytes):
                let text = String(decoding: bytes, as: UTF8.self)
                return "answer " + (text.split(separator: " ").dropFirst().first.map(String.init) ?? "?")
            case .sendAnswer(let offset): return "send \(offset)"
            case .shutdownWrite: return "shutdown"
            case .lingerReceive: return "linger"
            case .setDeadline(let d): return "deadline \(d)"
            case .countResolution(let cached, _): return "count \(cached ? "cache" : "lookup")"
            case .answerComplete: return "answer complete"
            case .handOver(let t, _, let from, let to, let ech): return "hand over \(t) \(from)..<\(to)" + (t == .intercept ? " ech=\(ech.token)" : "")
            case .lookupECH(let t): return "ech lookup \(t)"
            case .lookupECHThroughRelay(let t): return "ech lookup via relay \(t)"
            case .forward(_, let r, let from, let to): return "forward \(r.method) \(r.path ?? "") \(from)..<\(to)"
            case .holdRelaySlot(let s): return "slot \(s)"
            case .close(let r): return "close \(r.kind.rawValue): \(r.reason)"
            }
        }

        /// The last answer staged (status line and body), for checking reasons.
        var state: RequestMachine.State { machine.state }
    }

    static let addr = SocketAddress(ip: "127.0.0.1", port: 4433)!
    static let addr2 = SocketAddress(ip: "127.0.0.2", port: 4433)!

    private func resolvedLocal(_ r: Run, _ addresses: [SocketAddress] = [addr], immediately: Bool = true) -> [String] {
        r.on(.resolved(.success(ResolvedAddresses(addresses: addresses, source: "static")), immediately: immediately, now: r.now))
    }

    /// Reads and answers 200, returning the actions after the answer went out.
    private func upTo200(_ r: Run, _ request: String = "CONNECT localhost:4433 HTTP/1.1\r\n\r\n") -> [String] {
        _ = r.start()
        #expect(r.arrive(request).last == "resolve localhost:4433")
        #expect(resolvedLocal(r).last == "connect 127.0.0.1:4433")
        #expect(r.on(.connected(0, now: r.now)).suffix(2) == ["answer 200", "send 0"])
        return r.on(.answerSent(39, now: r.now))
    }

    @Test func aTunnelIsAnswered200AndHandedOver() {
        let r = Run()
        #expect(r.start() == ["deadline \(r.now + 10 * Run.second)", "receive 0+8192"])
        #expect(upTo200(r) == ["hand over passthrough 35..<35"])
        #expect(r.summary.target == "localhost:4433" && r.summary.upstreamAddress == "127.0.0.1:4433")
    }

    @Test func interceptedTargetsAndPipelinedBytes() {
        let r = Run(Run.config { $0.mode = .intercept; $0.ech = .off })
        #expect(upTo200(r, "CONNECT localhost:4433 HTTP/1.1\r\n\r\n\u{16}\u{03}\u{01}") == ["hand over intercept 35..<38 ech=off"])
    }

    @Test func aHeadInPiecesIsReadOn() {
        let r = Run()
        _ = r.start()
        #expect(r.arrive("CONNECT local") == ["receive 13+8179"])
        #expect(r.arrive("host:4433 HTTP/1.1\r\n\r\n").last == "resolve localhost:4433")
    }

    @Test("the client ends before its request", arguments: [
        (Int32(0), "", "client-gone: client closed without sending a request"),
        (Int32(0), "CONNECT x", "client-gone: client closed in the middle of its request (9 bytes)"),
        (-ECONNRESET, "", "client-gone: client: Connection reset by peer before sending a request"),
    ])
    func clientEndsEarly(result: Int32, before: String, want: String) {
        let r = Run()
        _ = r.start()
        if !before.isEmpty { r.arrive(before) }
        #expect(r.on(.received(result, now: r.now)) == ["close \(want)"])
    }

    @Test func badRequestsAreAnsweredAndLingerBeforeClosing() {
        for (text, status, kind) in [("GET / HTTP/1.1\r\n\r\n", "400", "bad-request"),
                                     ("connect x:1 HTTP/1.1\r\n\r\n", "405", "method-not-allowed"),
                                     ("\u{16}\u{03}\u{01}", "400", "bad-request")] {
            let r = Run()
            _ = r.start()
            #expect(r.arrive(text).suffix(2) == ["answer \(status)", "send 0"])
            #expect(r.on(.answerSent(4096, now: r.now)) == ["deadline \(r.now + 2 * Run.second)", "answer complete", "shutdown", "linger"])
            #expect(r.on(.lingerReceived(5)) == ["linger"])
            let closed = r.on(.lingerReceived(0))
            #expect(closed.count == 1 && closed[0].hasPrefix("close \(kind):"))
        }
    }

    @Test func aHeadTooLargeIs431() {
        let r = Run(Run.config { $0.maxHeaderBytes = 64 })
        _ = r.start()
        #expect(r.arrive("CONNECT localhost:4433 HTTP/1.1\r\nX: " + String(repeating: "a", count: 80)).suffix(2) == ["answer 431", "send 0"])
    }

    @Test func deadlines() {
        let r = Run()
        _ = r.start()
        #expect(r.on(.deadline(now: r.now + Run.second)) == ["deadline \(r.now + 10 * Run.second)"])  // not yet
        #expect(r.on(.deadline(now: r.now + 11 * Run.second)).suffix(2) == ["answer 408", "send 0"])
        #expect(r.on(.deadline(now: r.now + 30 * Run.second)) == ["close header-timeout: no complete CONNECT request within 10s"])
    }

    @Test func rulesRefuseTargetsAndWhereNamesLead() throws {
        let r = Run(Run.config { $0.rules = try! AccessRules(allow: [], deny: ["*:22", "127.0.0.0/8"]) })
        _ = r.start()
        #expect(r.arrive("CONNECT example.test:22 HTTP/1.1\r\n\r\n").suffix(2) == ["answer 403", "send 0"])
        let n = Run(Run.config { $0.rules = try! AccessRules(allow: [], deny: ["127.0.0.0/8"]) })
        _ = n.start()
        n.arrive("CONNECT name.test:443 HTTP/1.1\r\n\r\n")
        #expect(resolvedLocal(n).suffix(2) == ["answer 403", "send 0"])
    }

    @Test func resolutionFailsOrTimesOut() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n")
        let failed = r.on(.resolved(.failure("no such name"), immediately: false, now: r.now + 5))
        #expect(failed.first == "count lookup" && failed.suffix(2) == ["answer 502", "send 0"])
        let t = Run()
        _ = t.start()
        t.arrive("CONNECT slow.test:443 HTTP/1.1\r\n\r\n")
        #expect(t.on(.deadline(now: t.now + 11 * Run.second)).suffix(2) == ["answer 504", "send 0"])
    }

    @Test func cachedAnswersAreCounted() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT name.test:443 HTTP/1.1\r\n\r\n")
        let out = r.on(.resolved(.success(ResolvedAddresses(addresses: [Self.addr], source: "doh x (cache)")), immediately: true, now: r.now))
        #expect(out.first == "count cache")
    }

    @Test func connectTriesEachAddressThenGivesUp() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT name.test:4433 HTTP/1.1\r\n\r\n")
        #expect(resolvedLocal(r, [Self.addr, Self.addr2]).last == "connect 127.0.0.1:4433")
        #expect(r.on(.connected(-ECONNREFUSED, now: r.now)).suffix(2) == ["deadline \(r.now + 10 * Run.second)", "connect 127.0.0.2:4433"])
        let out = r.on(.connected(-ECONNREFUSED, now: r.now))
        #expect(out.first == "close upstream" && out.suffix(2) == ["answer 502", "send 0"])
        guard case .answering(let a, _) = r.state, case .close(let reason) = a.then else {
            Issue.record("not answering")
            return
        }
        #expect(reason.kind == .unreachable && reason.reason == "connect to 127.0.0.2:4433: Connection refused")
    }

    @Test func aSocketThatCannotBeMadeMovesOn() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT name.test:4433 HTTP/1.1\r\n\r\n")
        _ = resolvedLocal(r, [Self.addr])
        #expect(r.on(.connectFailedToStart("socket: Too many open files", now: r.now)).suffix(2) == ["answer 502", "send 0"])
    }

    @Test func connectTimeout() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT name.test:4433 HTTP/1.1\r\n\r\n")
        _ = resolvedLocal(r)
        #expect(r.on(.deadline(now: r.now + 11 * Run.second)) == ["cancel connect"])
        #expect(r.on(.connected(-ECANCELED, now: r.now + 11 * Run.second)).suffix(2) == ["answer 504", "send 0"])
    }

    @Test func plainHTTPIsForwardedOnceConnected() {
        let r = Run()
        _ = r.start()
        r.arrive("POST http://plain.test:8080/p?q HTTP/1.1\r\nContent-Length: 3\r\n\r\nab")
        _ = resolvedLocal(r)
        #expect(r.on(.connected(0, now: r.now)) == ["forward POST /p?q 63..<65"])
        let bad = Run()
        _ = bad.start()
        #expect(bad.arrive("POST http://p.test/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n").suffix(2) == ["answer 400", "send 0"])
    }

    @Test func ktlsRequireRefusesWhatCannotHaveIt() {
        let r = Run(Run.config { $0.mode = .intercept; $0.ktls = .require })
        _ = r.start()
        #expect(r.arrive("CONNECT x.test:443 HTTP/1.1\r\n\r\n").suffix(2) == ["answer 503", "send 0"])
        let l = Run(Run.config { $0.mode = .intercept; $0.ktls = .require }, kernelTLS: .available, viaListener: true)
        _ = l.start()
        #expect(l.arrive("CONNECT x.test:443 HTTP/1.1\r\n\r\n").suffix(2) == ["answer 503", "send 0"])
    }

    @Test func tunnelledTargets() throws {
        let fp = try #require(RelayFingerprint(bytes: Array(repeating: 7, count: 32)))
        let config = Run.config {
            $0.route = .tunnel
            $0.relay = RelayEndpoint(address: Self.addr, fingerprint: fp, secret: "s")
        }
        let r = Run(config)
        _ = r.start()
        #expect(r.arrive("CONNECT far.test:443 HTTP/1.1\r\n\r\n") == ["deadline 0", "tunnel far.test:443"])
        #expect(r.on(.tunnelEstablished(path: .userspace, note: nil, now: r.now)).suffix(2) == ["answer 200", "send 0"])
        let f = Run(config)
        _ = f.start()
        f.arrive("CONNECT far.test:443 HTTP/1.1\r\n\r\n")
        #expect(f.on(.tunnelFailed(.badGateway, CloseReason(.relayFailed, "relay: 403 no"), now: f.now)).suffix(2) == ["answer 502", "send 0"])
    }

    @Test func proxyUsers() throws {
        var users = ProxyUsers()
        try users.add(entry: "carol:pw", origin: "t")
        let r = Run(users: users)
        _ = r.start()
        #expect(r.arrive("CONNECT x.test:443 HTTP/1.1\r\n\r\n").suffix(2) == ["answer 407", "send 0"])
        let ok = Run(users: users)
        _ = ok.start()
        #expect(ok.arrive("CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n").last == "resolve x.test:443")
        #expect(ok.summary.user == "carol")
    }

    @Test func hashedUsersAreCheckedOffTheRing() throws {
        var users = ProxyUsers()
        let hash = try #require(ProxyUsers.crypt("pw", setting: "$5$abcdefgh$"))
        let file = "/tmp/veil-test-users-\(getpid())"
        let line = Array("carol:\(hash)\n".utf8)
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        defer { unlink(file) }
        try users.add(file: file)
        let r = Run(users: users)
        _ = r.start()
        let out = r.arrive("CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n")
        #expect(out == ["verify carol"])
        guard case .authenticating = r.state else { Issue.record("not authenticating"); return }
        let creds = try #require(BasicCredentials(header: "Basic Y2Fyb2w6cHc="))
        #expect(r.on(.authChecked(AuthOutcome(credentials: creds, key: [1], valid: true), now: r.now)).last == "resolve x.test:443")
        let bad = Run(users: users)
        _ = bad.start()
        bad.arrive("CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n")
        #expect(bad.on(.authChecked(AuthOutcome(credentials: creds, key: [2], valid: false), now: bad.now)).suffix(2) == ["answer 407", "send 0"])
        let slow = Run(users: users)
        _ = slow.start()
        slow.arrive("CONNECT x.test:443 HTTP/1.1\r\nProxy-Authorization: Basic Y2Fyb2w6cHc=\r\n\r\n")
        #expect(slow.on(.deadline(now: slow.now + 11 * Run.second)).suffix(2) == ["answer 503", "send 0"])
    }

    @Test func theRelaysGateAndResolveAnswers() {
        let gate = RelayGate(settings: RelayServerSettings(secret: "s3cret"))
        let r = Run(gate: gate)
        _ = r.start()
        #expect(r.arrive("CONNECT x.test:443 HTTP/1.1\r\n\r\n").suffix(2) == ["answer 407", "send 0"])
        let q = Run(gate: gate)
        _ = q.start()
        #expect(q.arrive("RESOLVE x.test:443 HTTP/1.1\r\nProxy-Authorization: Bearer s3cret\r\n\r\n").suffix(2)
                == ["deadline \(q.now + 10 * Run.second)", "resolve x.test:443"])
        let out = q.on(.resolved(.success(ResolvedAddresses(addresses: [Self.addr], source: "system")), immediately: false, now: q.now))
        #expect(out.suffix(2) == ["answer 200", "send 0"])
        q.on(.answerSent(4096, now: q.now))
        #expect(q.on(.lingerReceived(0)) == ["close ok: resolved to 127.0.0.1 from system"])
    }

    /// RESOLVE with `Veil-Want: https` asks for addresses and HTTPS records together and passes
    /// the records on as their RDATA (base64), or the resolver's reason; without the header the
    /// answer is what an older relay sends.
    @Test func theRelayAnswersHTTPSRecordsWhenAsked() throws {
        let gate = RelayGate(settings: RelayServerSettings(secret: "s3cret"))
        let q = Run(gate: gate)
        _ = q.start()
        #expect(q.arrive("RESOLVE x.test:443 HTTP/1.1\r\nVeil-Want: https\r\nProxy-Authorization: Bearer s3cret\r\n\r\n").last
                == "resolve+https x.test:443")
        let rdata: [UInt8] = [0, 1, 0, 0, 1, 0, 3, 2, 0x68, 0x32]
        let record = try HTTPSRecord.parse(name: "x.test", ttl: 300, rdata: rdata[...])
        var found = ResolvedAddresses(addresses: [Self.addr], source: "doh")
        found.https = .records([record], ttl: 300, source: "doh")
        #expect(q.on(.resolved(.success(found), immediately: true, now: q.now)).suffix(2) == ["answer 200", "send 0"])
        guard case .answer(let a) = RelayResolution.parse(q.lastAnswer) else {
            Issue.record("not an answer: \(String(decoding: q.lastAnswer, as: UTF8.self))")
            return
        }
        #expect(a.https == .records([rdata], ttl: 300, source: "doh"))

        let f = Run(gate: gate)
        _ = f.start()
        f.arrive("RESOLVE x.test:443 HTTP/1.1\r\nVeil-Want: https\r\nProxy-Authorization: Bearer s3cret\r\n\r\n")
        found.https = .failure("the system resolver cannot ask for HTTPS records")
        f.on(.resolved(.success(found), immediately: true, now: f.now))
        #expect(RelayResolution.parse(f.lastAnswer) == .answer(.init(addresses: ["127.0.0.1"], ttl: 77, source: "doh",
                                                                       https: .failure("the system resolver cannot ask for HTTPS records"))))

        let old = Run(gate: gate)
        _ = old.start()
        #expect(old.arrive("RESOLVE x.test:443 HTTP/1.1\r\nProxy-Authorization: Bearer s3cret\r\n\r\n").last == "resolve x.test:443")
        old.on(.resolved(.success(ResolvedAddresses(addresses: [Self.addr], source: "doh")), immediately: true, now: old.now))
        #expect(!String(decoding: old.lastAnswer, as: UTF8.self).contains("Veil-HTTPS"))
    }

    @Test func refusalsAreAnswered503() {
        let r = Run()
        #expect(r.on(.refused(CloseReason(.overloaded, "refused: full"), graceDeadline: nil, now: r.now)).suffix(2) == ["answer 503", "send 0"])
        r.on(.answerSent(4096, now: r.now))
        #expect(r.on(.deadline(now: r.now + 3 * Run.second)) == ["close overloaded: refused: full"])
    }

    @Test func answersSentInPieces() {
        let r = Run()
        _ = r.start()
        r.arrive("GET / HTTP/1.1\r\n\r\n")
        #expect(r.on(.answerSent(10, now: r.now)) == ["send 10"])
        #expect(r.on(.answerSent(-EAGAIN, now: r.now)) == ["send 10"])
        #expect(r.on(.answerSent(-EPIPE, now: r.now)).first?.hasPrefix("close bad-request") == true)
    }

    @Test func aClientThatDoesNotReadThe200() {
        let r = Run()
        _ = r.start()
        r.arrive("CONNECT localhost:4433 HTTP/1.1\r\n\r\n")
        _ = resolvedLocal(r)
        r.on(.connected(0, now: r.now))
        #expect(r.on(.deadline(now: r.now + 11 * Run.second)) == ["close client-gone: client did not read the response"])
        let e = Run()
        _ = e.start()
        e.arrive("CONNECT localhost:4433 HTTP/1.1\r\n\r\n")
        _ = resolvedLocal(e)
        e.on(.connected(0, now: e.now))
        #expect(e.on(.answerSent(-ECONNRESET, now: e.now)) == ["close client-gone: client: Connection reset by peer while sending the response"])
    }

    @Test func shutdownAnswersWhatIsSettingUp() throws {
        let grace = 1_005 * Run.second
        let reading = Run()
        _ = reading.start()
        #expect(reading.on(.shutdown(graceDeadline: grace, now: reading.now)).suffix(2) == ["answer 503", "send 0"])
        let connecting = Run()
        _ = connecting.start()
        connecting.arrive("CONNECT localhost:4433 HTTP/1.1\r\n\r\n")
        _ = resolvedLocal(connecting)
        let out = connecting.on(.shutdown(graceDeadline: grace, now: connecting.now))
        #expect(out.first == "cancel connect" && out.suffix(2) == ["answer 503", "send 0"])
        let fp = try #require(RelayFingerprint(bytes: Array(repeating: 7, count: 32)))
        let tunnelling = Run(Run.config { $0.route = .tunnel; $0.relay = RelayEndpoint(address: Self.addr, fingerprint: fp, secret: "s") })
        _ = tunnelling.start()
        tunnelling.arrive("CONNECT far.test:443 HTTP/1.1\r\n\r\n")
        #expect(tunnelling.on(.shutdown(graceDeadline: grace, now: tunnelling.now)).first == "stop tunnel")
        // An answer on its way keeps going, within the grace period.
        let answering = Run()
        _ = answering.start()
        answering.arrive("GET / HTTP/1.1\r\n\r\n")
        #expect(answering.on(.shutdown(graceDeadline: grace, now: answering.now)) == ["deadline \(grace)"])
        #expect(answering.on(.deadline(now: grace)) == ["close shutdown: closed at shutdown: grace period of 10s ended"])
    }
}
