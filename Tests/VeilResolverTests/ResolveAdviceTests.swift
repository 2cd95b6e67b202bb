import Testing
@testable import VeilResolver
import VeilWire

/// Every resolver's failure says how to fix it, naming the flags, and the advice survives the
/// cap of the 502 body (HTTPStatusResponse.maxReasonLength).
@Suite("ResolveAdvice")
struct ResolveAdviceTests {
    static func advice(_ reason: String) -> String {
        let parts = reason.split(separator: ResolveAdvice.marker, maxSplits: 1, omittingEmptySubsequences: false)
        return parts.count == 2 ? String(parts[1]) : ""
    }

    @Test func dohUnreachable() {
        let r = ResolveAdvice.serversFailed(host: "example.com", port: 443, kinds: [.doh],
                                            problems: ["doh https://1.1.1.1/dns-query: connect 1.1.1.1:443: Network is unreachable"])
        #expect(r.hasPrefix("cannot resolve example.com: doh https://1.1.1.1/dns-query: connect 1.1.1.1:443: Network is unreachable; to fix: "))
        let a = Self.advice(r)
        for flag in ["--doh-url", "--resolver dot", "--resolve example.com:443:ADDR", "--resolver system"] {
            #expect(a.contains(flag), "\(flag) missing in: \(a)")
        }
        #expect(!a.contains("--resolver-ca"))
    }

    @Test func dotUnreachable() {
        let a = Self.advice(ResolveAdvice.serversFailed(host: "h.test", port: 8443, kinds: [.dot],
                                                        problems: ["dot 1.1.1.1:853: timed out"]))
        for flag in ["--dot-server", "--resolver doh", "--resolve h.test:8443:ADDR", "--resolver system"] {
            #expect(a.contains(flag), "\(flag) missing in: \(a)")
        }
    }

    @Test func relayUnreachable() {
        let a = Self.advice(ResolveAdvice.serversFailed(host: "h.test", port: 443, kinds: [.relay],
                                                        problems: ["relay 127.0.0.1:1: connect: Connection refused"]))
        for flag in ["--relay IP:PORT", "--relay-fingerprint", "--resolver relay,doh", "--resolve h.test:443:ADDR"] {
            #expect(a.contains(flag), "\(flag) missing in: \(a)")
        }
    }

    @Test func relayFingerprintMismatchIsNotACAProblem() {
        let r = ResolveAdvice.serversFailed(host: "h", port: 443, kinds: [.relay],
                                            problems: ["relay 127.0.0.1:8443: certificate fingerprint mismatch at 127.0.0.1:8443 (got \(String(repeating: "AB:", count: 31))AB, pinned \(String(repeating: "00:", count: 31))00)"])
        #expect(!r.contains("--resolver-ca"))
        #expect(r.contains("pinned 00:00:"))
        #expect(!HTTPStatusResponse.sanitise(r).hasSuffix("..."), "cut: \(r)")
    }

    @Test func certificateProblemNamesResolverCA() {
        let a = Self.advice(ResolveAdvice.serversFailed(host: "h", port: 443, kinds: [.doh, .dot],
                                                        problems: ["dot 127.0.0.1:853: certificate verify failed"]))
        #expect(a.contains("--resolver-ca FILE"))
        #expect(a.contains("--doh-url") && a.contains("--dot-server"))
    }

    @Test func staticAndSystemAndNoSuchName() {
        let s = ResolveAdvice.staticOnly(host: "h.test", port: 443)
        #expect(Self.advice(s).contains("--resolve h.test:443:ADDR"))
        #expect(Self.advice(s).contains("--resolver doh"))
        let sys = ResolveAdvice.systemFailed("system resolver: h.test: Name or service not known", host: "h.test", port: 443)
        #expect(Self.advice(sys).contains("--resolve h.test:443:ADDR"))
        #expect(Self.advice(sys).contains("--resolver doh"))
        let nx = ResolveAdvice.noSuchName("cannot resolve h.test: no such name (NXDOMAIN from doh x)", host: "h.test", port: 443)
        #expect(Self.advice(nx).contains("--resolve h.test:443:ADDR"))
    }

    @Test func adviceSurvivesTheBodyCap() {
        let long = (0..<6).map { "doh https://192.0.2.\($0):443/a-rather-long-path-for-a-dns-query-endpoint: connect 192.0.2.\($0):443: timed out after 5 s" }
        let r = ResolveAdvice.serversFailed(host: "a-long-name.subdomain.example.com", port: 443, kinds: [.doh], problems: long)
        let body = HTTPStatusResponse.sanitise(r)
        #expect(!body.hasSuffix("..."), "advice cut: \(body)")
        #expect(body.contains("--resolver system"))
        #expect(r.count <= HTTPStatusResponse.maxReasonLength)
    }

    @Test func withoutAdvice() {
        #expect(ResolveAdvice.withoutAdvice("cannot resolve x: no such name; to fix: check it") == "cannot resolve x: no such name")
        #expect(ResolveAdvice.withoutAdvice("no advice here") == "no advice here")
        #expect(ResolveAdvice.withoutAdvice("") == "")
    }
}
