import Testing
@testable import VeilProxy
import VeilWire
import VeilResolver

@Suite("Relay: constant-time compare, fingerprints, limits, answers")
struct RelayTests {
    @Test func constantTimeEqual() {
        #expect(ConstantTime.equal("secret", "secret"))
        #expect(!ConstantTime.equal("secret", "secreT"))
        #expect(!ConstantTime.equal("secret", "secret2"))
        #expect(!ConstantTime.equal("secret", "secre"))
        #expect(!ConstantTime.equal("secret", ""))
        #expect(ConstantTime.equal("", ""))
        #expect(!ConstantTime.equal([0x00], [0xff]))
        // A shorter candidate that is a prefix padded with the complement must not match.
        #expect(!ConstantTime.equal([1, 2, 3], [1, 2]))
    }

    @Test func fingerprintParsingAndFormatting() throws {
        let hex = "5a4e202e6e08f29635a18830144fc10d00f00be6b7360b9fd13230beefc75dc4"
        let f = try #require(RelayFingerprint(parsing: hex))
        #expect(f.description == "5A:4E:20:2E:6E:08:F2:96:35:A1:88:30:14:4F:C1:0D:00:F0:0B:E6:B7:36:0B:9F:D1:32:30:BE:EF:C7:5D:C4")
        #expect(RelayFingerprint(parsing: f.description) == f)
        #expect(RelayFingerprint(parsing: "  " + hex.uppercased() + "\n") == f)
        #expect(f.matches(f.bytes))
        #expect(!f.matches(Array(f.bytes.dropLast()) + [0]))
        #expect(RelayFingerprint(parsing: String(hex.dropLast(2))) == nil)
        #expect(RelayFingerprint(parsing: hex + "00") == nil)
        #expect(RelayFingerprint(parsing: String(hex.dropLast()) + "g") == nil)
        #expect(RelayFingerprint(parsing: "") == nil)
        #expect(RelayFingerprint.format([0x0a, 0xff]) == "0A:FF")
    }

    @Test func rateLimiterBlocksAfterLimitWithinWindow() {
        let l = AuthFailureLimiter(limit: 3, window: 60, block: 30)
        #expect(l.blockedFor("1.2.3.4", now: 0) == 0)
        #expect(!l.recordFailure("1.2.3.4", now: 1))
        #expect(!l.recordFailure("1.2.3.4", now: 2))
        #expect(l.blockedFor("1.2.3.4", now: 2) == 0)
        #expect(l.recordFailure("1.2.3.4", now: 3))
        #expect(l.blockedFor("1.2.3.4", now: 4) == 29)
        #expect(l.blockedFor("5.6.7.8", now: 4) == 0)  // others are not affected
        #expect(l.blockedFor("1.2.3.4", now: 33) == 0)  // the block ends
        #expect(!l.recordFailure("1.2.3.4", now: 34))  // and the count starts over
    }

    @Test func rateLimiterForgetsOldFailures() {
        let l = AuthFailureLimiter(limit: 3, window: 10, block: 30)
        l.recordFailure("a", now: 0)
        l.recordFailure("a", now: 5)
        #expect(!l.recordFailure("a", now: 20))  // the first two are outside the window
        #expect(l.blockedFor("a", now: 20) == 0)
    }

    @Test func rateLimiterTableIsBounded() {
        let l = AuthFailureLimiter(limit: 5, window: 60, block: 60, maxClients: 100)
        for i in 0..<1000 { l.recordFailure("10.0.\(i / 256).\(i % 256)", now: Double(i)) }
        #expect(l.trackedClients <= 100)
    }

    @Test func connectionsPerClient() {
        let c = ClientConnectionLimit(maxPerClient: 2)
        #expect(c.acquire("a"))
        #expect(c.acquire("a"))
        #expect(!c.acquire("a"))
        #expect(c.acquire("b"))
        c.release("a")
        #expect(c.acquire("a"))
        c.release("a"); c.release("a"); c.release("a")
        #expect(c.count("a") == 0)
    }

    @Test func gateAdmitsOnlyTheSecret() throws {
        var settings = RelayServerSettings(secret: "s3cret")
        settings.authFailureLimit = 2
        let gate = RelayGate(settings: settings)
        func request(_ auth: String?, port: UInt16 = 443) throws -> ConnectRequest {
            ConnectRequest(method: "CONNECT", target: try HostPort(host: "example.com", port: port), httpVersion: "HTTP/1.1",
                           headers: auth.map { [("Proxy-Authorization", $0)] } ?? [], headerLength: 0)
        }
        guard case .admitted(let slot) = gate.admit(try request("Bearer s3cret"), client: "192.0.2.1:5000", now: 0) else {
            Issue.record("right secret refused"); return
        }
        #expect(slot == "192.0.2.1")
        gate.release(slot)
        guard case .refused(.forbidden, _) = gate.admit(try request("bearer s3cret", port: 22), client: "192.0.2.1:5001", now: 0) else {
            Issue.record("port 22 not refused"); return
        }
        guard case .refused(.proxyAuthenticationRequired, let r1) = gate.admit(try request("Bearer wrong"), client: "192.0.2.1:5002", now: 1) else {
            Issue.record("wrong secret not refused"); return
        }
        #expect(r1.kind == .authFailed)
        #expect(!r1.reason.contains("wrong\""))
        guard case .refused(.proxyAuthenticationRequired, _) = gate.admit(try request(nil), client: "192.0.2.1:5003", now: 2) else {
            Issue.record("missing secret not refused"); return
        }
        guard case .refused(.tooManyRequests, let r2) = gate.admit(try request("Bearer s3cret"), client: "192.0.2.1:5004", now: 3) else {
            Issue.record("blocked client served"); return
        }
        #expect(r2.kind == .rateLimited)
        guard case .admitted = gate.admit(try request("Bearer s3cret"), client: "[2001:db8::1]:5005", now: 3) else {
            Issue.record("other client refused"); return
        }
    }

    @Test func gatePinsClientCertificates() throws {
        let mine = [UInt8](repeating: 7, count: 32), other = [UInt8](repeating: 9, count: 32)
        func request(_ auth: String?) throws -> ConnectRequest {
            ConnectRequest(method: "CONNECT", target: try HostPort(host: "example.com", port: 443), httpVersion: "HTTP/1.1",
                           headers: auth.map { [("Proxy-Authorization", $0)] } ?? [], headerLength: 0)
        }
        func admitted(_ gate: RelayGate, _ auth: String?, _ cert: [UInt8]?) throws -> (Bool, String) {
            switch gate.admit(try request(auth), client: "192.0.2.1:1", certificate: cert, now: 0) {
            case .admitted(let slot): gate.release(slot); return (true, "")
            case .refused(let status, let reason): return (false, "\(status.rawValue) \(reason.reason)")
            }
        }
        for auth in [RelayServerSettings.ClientAuth.both, .certificate] {
            var settings = RelayServerSettings(secret: "s3cret")
            settings.authFailureLimit = 100
            settings.clientFingerprints = [try #require(RelayFingerprint(bytes: mine))]
            settings.clientAuth = auth
            let gate = RelayGate(settings: settings)
            #expect(try admitted(gate, "Bearer s3cret", mine) == (true, ""))
            #expect(try admitted(gate, "Bearer wrong", mine).0 == (auth == .certificate))
            let (ok, why) = try admitted(gate, "Bearer s3cret", other)
            #expect(!ok && why.hasPrefix("403 client certificate 09:09:") && why.contains("is not pinned"))
            let (ok2, why2) = try admitted(gate, "Bearer s3cret", nil)
            #expect(!ok2 && why2.hasPrefix("403 client certificate missing"))
        }
        // `secret` (no fingerprints): certificates play no part.
        let plain = RelayGate(settings: RelayServerSettings(secret: "s3cret"))
        #expect(try admitted(plain, "Bearer s3cret", nil) == (true, ""))
        #expect(try admitted(plain, "Bearer s3cret", other) == (true, ""))
    }

    @Test func clientAuthNeedsFingerprints() throws {
        var b = ConfigurationBuilder(for: .relay)
        try b.apply(key: "client-auth", value: "certificate", origin: "flag")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "client-fingerprint", value: String(repeating: "ab", count: 32), origin: "flag")
        #expect(try b.build().relayServer?.clientAuth == .certificate)
        var d = ConfigurationBuilder(for: .relay)
        #expect(try d.build().relayServer?.clientAuth == .secret)
        try d.apply(key: "client-fingerprint", value: String(repeating: "ab", count: 32), origin: "flag")
        #expect(try d.build().relayServer?.clientAuth == .both)
    }

    @Test func secretsMustFitAHeader() {
        #expect(SecretFile.problem(with: "abc-DEF_123") == nil)
        #expect(SecretFile.problem(with: "") != nil)
        #expect(SecretFile.problem(with: "two words") != nil)
        #expect(SecretFile.problem(with: "x\r\nX-Injected: 1") != nil)
        #expect(SecretFile.problem(with: String(repeating: "a", count: 513)) != nil)
        #expect(SecretFile.generate().map { SecretFile.problem(with: $0) == nil && $0.count == 64 } == true)
    }

    @Test func clientAddressFromPeer() {
        #expect(RelayGate.address(of: "1.2.3.4:5678") == "1.2.3.4")
        #expect(RelayGate.address(of: "[::1]:5678") == "::1")
        #expect(RelayGate.bearer("Bearer abc") == "abc")
        #expect(RelayGate.bearer("BEARER  abc ") == "abc")
        #expect(RelayGate.bearer("Basic abc") == nil)
        #expect(RelayGate.bearer(nil) == nil)
    }

    @Test func relayAnswers() throws {
        #expect(RelayAnswer(Array("HTTP/1.1 200 Connection established\r\n".utf8)) == nil)
        let ok = try #require(RelayAnswer(Array("HTTP/1.1 200 Connection established\r\n\r\nxy".utf8)))
        #expect(ok.status == 200 && ok.headLength == 39)
        let head = "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 19\r\n\r\n"
        let partial = try #require(RelayAnswer(Array((head + "wrong").utf8)))
        #expect(!partial.bodyComplete)
        let full = try #require(RelayAnswer(Array((head + "wrong relay secret\n").utf8)))
        #expect(full.bodyComplete && full.status == 407 && full.reason == "wrong relay secret")
        let bare = try #require(RelayAnswer(Array("HTTP/1.1 503 Busy\r\n\r\n".utf8)))
        #expect(bare.reason == "Busy")
        let junk = try #require(RelayAnswer(Array("SSH-2.0\r\n\r\n".utf8)))
        #expect(junk.status == 0)
    }

    @Test func routesAndPorts() throws {
        var c = ProxyConfiguration()
        c.routeRules = [(try HostPattern(parsing: "*.hidden.test"), .tunnel), (try HostPattern(parsing: "*"), .direct)]
        c.route = .tunnel
        #expect(c.route(for: try HostPort(host: "a.hidden.test", port: 443)) == .tunnel)
        #expect(c.route(for: try HostPort(host: "example.com", port: 443)) == .direct)
        #expect(c.usesRelay)
        #expect(RelayServerSettings.parsePorts("443, 8000-9000") == [443...443, 8000...9000])
        #expect(RelayServerSettings.parsePorts("0") == nil)
        #expect(RelayServerSettings.parsePorts("9-1") == nil)
        #expect(RelayServerSettings.parsePorts("") == nil)
        for range in RelayServerSettings.privateRanges { #expect(throws: Never.self) { try HostPattern(parsing: range) } }
    }

    @Test func builderNeedsRelaySettingsForTunnels() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "route", value: "tunnel", origin: "test")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "relay", value: "192.0.2.7:8443", origin: "test")
        try b.apply(key: "relay-fingerprint", value: String(repeating: "ab", count: 32), origin: "test")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "relay-secret", value: "x", origin: "test")
        let c = try b.build()
        #expect(c.relay?.address.description == "192.0.2.7:8443")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "relay", value: "relay.example:8443", origin: "test") }
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "route-rule", value: "*.x=sideways", origin: "test") }
    }
}
