import Testing
import VeilWire

private func target(_ text: String) -> HostPort {
    do {
        return try HostPort(parsing: text)
    } catch {
        fatalError("bad test target \(text): \(error)")
    }
}

@Suite("AccessRules")
struct AccessRulesTests {
    @Test func emptyRulesAllowEverything() {
        #expect(AccessRules().check(target("example.com:443")) == .allowed)
        #expect(AccessRules.allowAll.check(target("[::1]:22")) == .allowed)
    }

    @Test func denyMessage() throws {
        let rules = try AccessRules(allow: [], deny: ["*:22"])
        #expect(rules.check(target("localhost:22")) == .denied(reason: "target localhost:22 denied by rule 'deny *:22'"))
        #expect(rules.check(target("localhost:443")) == .allowed)
        #expect(rules.check(target("[::1]:22")) == .denied(reason: "target [::1]:22 denied by rule 'deny *:22'"))
    }

    @Test func allowListMessage() throws {
        let rules = try AccessRules(allow: ["*.example.com:443"], deny: [])
        #expect(rules.check(target("www.example.com:443")) == .allowed)
        #expect(rules.check(target("x:443")) == .denied(reason: "target x:443 not matched by any allow rule"))
        #expect(rules.check(target("www.example.com:80")) == .denied(reason: "target www.example.com:80 not matched by any allow rule"))
    }

    @Test func ownAddressesAreRefusedOnceGuarded() throws {
        let open = AccessRules()
        #expect(open.check(target("127.0.0.1:22")) == .allowed)
        let guarded = open.guardingOwnAddresses(["192.0.2.7", "2001:db8::7"])
        for t in ["127.0.0.1:22", "127.1.2.3:443", "0.0.0.0:80", "[::1]:443", "[::]:443",
                  "[::ffff:127.0.0.1]:22", "192.0.2.7:443", "[2001:db8::7]:8080"] {
            guard case .denied(let reason) = guarded.check(target(t)) else {
                Issue.record("\(t) not refused")
                continue
            }
            #expect(reason.contains("an address of the proxy host itself"))
        }
        #expect(guarded.check(target("192.0.2.8:443")) == .allowed)
        #expect(guarded.check(target("example.com:443")) == .allowed)
    }

    @Test func aNameLeadingToAnOwnAddressIsRefused() throws {
        let guarded = AccessRules().guardingOwnAddresses([])
        let name = target("internal.test:8080")
        guard case .denied(let reason) = guarded.check(name, resolvedTo: target("127.0.0.1:8080")) else {
            Issue.record("not refused")
            return
        }
        #expect(reason == "target internal.test:8080 resolves to 127.0.0.1, an address of the proxy host itself, refused because a listener is not on loopback (allow it with an allow rule naming it)")
        #expect(guarded.check(name, resolvedTo: target("198.51.100.1:8080")) == .allowed)
    }

    @Test func anAllowRuleNamingAnOwnAddressLetsItThrough() throws {
        let rules = try AccessRules(allow: ["127.0.0.1:8080", "internal.test", "*:443"], deny: []).guardingOwnAddresses([])
        #expect(rules.check(target("127.0.0.1:8080")) == .allowed)
        #expect(rules.check(target("internal.test:8080"), resolvedTo: target("127.0.0.1:8080")) == .allowed)
        // A rule for any host does not count as naming the host's own addresses.
        guard case .denied = rules.check(target("127.0.0.1:443")) else {
            Issue.record("*:443 unlocked loopback")
            return
        }
    }

    @Test func denyBeatsAllow() throws {
        let rules = try AccessRules(
            allow: [".example.com", "10.0.0.0/8"],
            deny: ["admin.example.com", "10.0.0.0/24:*", "*:25"])
        #expect(rules.check(target("example.com:443")) == .allowed)
        #expect(rules.check(target("admin.example.com:443")) == .denied(reason: "target admin.example.com:443 denied by rule 'deny admin.example.com'"))
        #expect(rules.check(target("10.0.0.5:443")) == .denied(reason: "target 10.0.0.5:443 denied by rule 'deny 10.0.0.0/24:*'"))
        #expect(rules.check(target("10.0.1.5:443")) == .allowed)
        #expect(rules.check(target("mail.example.com:25")) == .denied(reason: "target mail.example.com:25 denied by rule 'deny *:25'"))
        #expect(rules.check(target("other.org:443")) == .denied(reason: "target other.org:443 not matched by any allow rule"))
    }

    @Test func firstMatchingDenyIsReported() throws {
        let rules = try AccessRules(allow: [], deny: ["localhost:1-1024", "*:22"])
        #expect(rules.check(target("localhost:22")) == .denied(reason: "target localhost:22 denied by rule 'deny localhost:1-1024'"))
    }

    @Test func mappedLoopbackCannotBypassDeny() throws {
        let rules = try AccessRules(allow: [], deny: ["127.0.0.0/8", "::1"])
        #expect(rules.check(target("[::ffff:127.0.0.1]:80")) != .allowed)
        #expect(rules.check(target("[0:0:0:0:0:0:0:1]:80")) != .allowed)
        #expect(rules.check(target("127.0.0.1:80")) != .allowed)
    }

    @Test func parsedPatternsInit() throws {
        let rules = AccessRules(allow: [try HostPattern(parsing: "a.com")], deny: [])
        #expect(rules.allow.count == 1)
        #expect(rules.deny.isEmpty)
        #expect(rules.check(target("a.com:1")) == .allowed)
    }

    @Test func badPatternThrows() {
        #expect(throws: HostPattern.ParseError.self) { try AccessRules(allow: ["ok.com"], deny: ["bad*"]) }
    }
}
