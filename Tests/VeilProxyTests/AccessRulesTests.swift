import Testing
import VeilProxy

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
