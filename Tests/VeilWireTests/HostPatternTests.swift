import Testing
import VeilWire

private func target(_ text: String) -> HostPort {
    do {
        return try HostPort(parsing: text)
    } catch {
        fatalError("bad test target \(text): \(error)")
    }
}

private func matches(_ pattern: String, _ targetText: String) throws -> Bool {
    try HostPattern(parsing: pattern).matches(target(targetText))
}

private func patternError(_ text: String) -> HostPattern.ParseError? {
    do {
        _ = try HostPattern(parsing: text)
        return nil
    } catch {
        return error
    }
}

@Suite("HostPattern")
struct HostPatternTests {
    @Test func anyHost() throws {
        let p = try HostPattern(parsing: "*")
        #expect(p.host == .any)
        #expect(p.ports == nil)
        #expect(p.matches(target("example.com:443")))
        #expect(p.matches(target("10.0.0.1:22")))
        #expect(p.matches(target("[::1]:1")))
    }

    @Test func anyHostOnePort() throws {
        #expect(try matches("*:22", "localhost:22"))
        #expect(try matches("*:22", "[::1]:22"))
        #expect(try !matches("*:22", "localhost:2222"))
        #expect(try matches("*:*", "a:9"))
    }

    @Test func exactName() throws {
        let p = try HostPattern(parsing: "Example.COM.")
        #expect(p.host == .exact("example.com"))
        #expect(p.text == "Example.COM.")
        #expect(p.description == "Example.COM.")
        #expect(p.matches(target("example.com:443")))
        #expect(p.matches(target("EXAMPLE.com.:80")))
        #expect(!p.matches(target("www.example.com:443")))
        #expect(!p.matches(target("notexample.com:443")))
        #expect(!p.matches(target("example.com.evil:443")))
    }

    @Test func strictSubdomains() throws {
        let p = try HostPattern(parsing: "*.example.com")
        #expect(p.host == .subdomains(of: "example.com"))
        #expect(p.matches(target("www.example.com:443")))
        #expect(p.matches(target("a.b.example.com:443")))
        #expect(!p.matches(target("example.com:443")))
        #expect(!p.matches(target("badexample.com:443")))
        #expect(!p.matches(target("example.com.evil.net:443")))
    }

    @Test func apexAndSubdomains() throws {
        let p = try HostPattern(parsing: ".example.com")
        #expect(p.host == .domainAndSubdomains("example.com"))
        #expect(p.matches(target("example.com:443")))
        #expect(p.matches(target("x.example.com:443")))
        #expect(!p.matches(target("badexample.com:443")))
    }

    @Test func namePatternWithPorts() throws {
        #expect(try matches("example.com:443", "example.com:443"))
        #expect(try !matches("example.com:443", "example.com:80"))
        #expect(try matches("*.example.com:8000-9000", "a.example.com:8000"))
        #expect(try matches("*.example.com:8000-9000", "a.example.com:9000"))
        #expect(try !matches("*.example.com:8000-9000", "a.example.com:9001"))
        #expect(try !matches("*.example.com:8000-9000", "a.example.com:7999"))
        #expect(try HostPattern(parsing: ".example.com:*").ports == nil)
        #expect(try HostPattern(parsing: "a:1-65535").ports == 1...65535)
    }

    @Test func ipv4Literal() throws {
        let p = try HostPattern(parsing: "10.1.2.3")
        #expect(p.host == .ipv4(network: [10, 1, 2, 3], prefixLength: 32))
        #expect(p.matches(target("10.1.2.3:443")))
        #expect(!p.matches(target("10.1.2.4:443")))
        #expect(!p.matches(target("example.com:443")))
        #expect(try matches("10.1.2.3:22", "10.1.2.3:22"))
        #expect(try !matches("10.1.2.3:22", "10.1.2.3:23"))
    }

    @Test func ipv4CIDR() throws {
        #expect(try matches("10.0.0.0/8", "10.255.0.1:1"))
        #expect(try !matches("10.0.0.0/8", "11.0.0.1:1"))
        #expect(try matches("192.168.0.0/16:443", "192.168.7.7:443"))
        #expect(try !matches("192.168.0.0/16:443", "192.168.7.7:80"))
        #expect(try matches("172.16.0.0/12", "172.31.255.255:1"))
        #expect(try !matches("172.16.0.0/12", "172.32.0.0:1"))
        #expect(try matches("0.0.0.0/0", "8.8.8.8:53"))
        #expect(try !matches("0.0.0.0/0", "example.com:53"))
        #expect(try matches("127.0.0.0/8", "127.0.0.1:22"))
        #expect(try matches("100.64.0.0/10", "100.127.255.255:1"))
        #expect(try !matches("100.64.0.0/10", "100.128.0.0:1"))
    }

    @Test func ipv4PatternMatchesMappedIPv6Target() throws {
        #expect(try matches("127.0.0.0/8", "[::ffff:127.0.0.1]:22"))
        #expect(try matches("127.0.0.1", "[::ffff:7f00:1]:22"))
        #expect(try !matches("127.0.0.0/8", "[::1]:22"))
        #expect(try matches("::ffff:0:0/96", "127.0.0.1:22"))
        #expect(try matches("[::ffff:10.0.0.0/104]:*", "10.1.1.1:22"))
    }

    @Test func ipv6Literal() throws {
        let p = try HostPattern(parsing: "::1")
        #expect(p.ports == nil)
        #expect(p.matches(target("[::1]:443")))
        #expect(p.matches(target("[0:0:0:0:0:0:0:1]:80")))
        #expect(!p.matches(target("[::2]:443")))
        #expect(!p.matches(target("127.0.0.1:443")))
        #expect(try matches("[::1]", "[::1]:22"))
        #expect(try matches("[::1]:22", "[::1]:22"))
        #expect(try !matches("[::1]:22", "[::1]:23"))
        #expect(try matches("[2001:db8::1]:8000-9000", "[2001:db8::1]:8080"))
        // Bracketed, the same text is unambiguous.
        #expect(try matches("[::1:22]", "[::1:22]:443"))
        #expect(try matches("[::1]:22", "[::1]:22"))
        // Not ambiguous: hex last group, or a prefix that is no address on its own.
        #expect(try matches("fe80::1:abcd", "[fe80::1:abcd]:1"))
        #expect(try matches("2001:db8::1", "[2001:db8::1]:1"))
        #expect(try matches("1:2:3:4:5:6:7:8", "[1:2:3:4:5:6:7:8]:1"))
    }

    @Test func ipv6CIDR() throws {
        #expect(try matches("fe80::/10", "[fe80::1]:1"))
        #expect(try matches("fe80::/10", "[febf:ffff::1]:1"))
        #expect(try !matches("fe80::/10", "[fec0::1]:1"))
        #expect(try matches("[2001:db8::/32]:443", "[2001:db8:1234::5]:443"))
        #expect(try !matches("[2001:db8::/32]:443", "[2001:db8:1234::5]:80"))
        #expect(try !matches("2001:db8::/32", "[2001:db9::1]:443"))
        #expect(try matches("::/0", "[2a00::1]:1"))
        #expect(try matches("fc00::/7", "[fdff::1]:1"))
    }

    @Test("bad patterns", arguments: [
        ("", "empty pattern"),
        ("  ", "empty pattern"),
        ("foo*.com", "'*' is only allowed"),
        ("*.*.com", "'*' is only allowed"),
        ("a.*.com", "'*' is only allowed"),
        ("**", "'*' is only allowed"),
        ("*.", "empty host"),
        (".", "empty host"),
        ("*.10.0.0.1", "must be followed by a domain name"),
        (".10.0.0.1", "must be followed by a domain name"),
        ("10.0.0.1/8", "has host bits set; did you mean 10.0.0.0/8?"),
        ("fe80::1/10", "has host bits set; did you mean fe80::/10?"),
        ("10.0.0.0/33", "invalid prefix length '33'; expected 0-32"),
        ("10.0.0.0/", "invalid prefix length"),
        ("10.0.0.0/08", "invalid prefix length"),
        ("10.0.0.0/-1", "invalid prefix length"),
        ("::/129", "expected 0-128"),
        ("example.com/8", "is not an IPv4 or IPv6 address"),
        ("[10.0.0.0/8]", "brackets are only for IPv6"),
        ("[10.0.0.1]:22", "brackets are only for IPv6"),
        ("[*]:22", "brackets are only for IPv6"),
        ("[::1", "missing ']'"),
        ("[::1]22", "expected ':'"),
        ("[::1]:", "missing port after ':'"),
        ("example.com:", "missing port after ':'"),
        ("example.com:0", "out of range"),
        ("example.com:65536", "out of range"),
        ("example.com:9000-8000", "port range 9000-8000 is empty"),
        ("example.com:80-", "missing port"),
        ("example.com:http", "invalid port"),
        ("exa_mple!.com", "invalid character '!'"),
        ("010.0.0.1", "invalid IPv4 address"),
        ("fe80::1%eth0", "zone ids"),
        (":443", "empty host"),
        ("::1:22", "ambiguous IPv6 pattern; write [::1]:22 for a port or [::1:22] for the address"),
        ("fe80::1:443", "ambiguous IPv6 pattern"),
    ])
    func badPattern(text: String, fragment: String) {
        let error = patternError(text)
        #expect(error?.message.contains(fragment) == true, "\(text): \(error?.message ?? "accepted")")
    }

    @Test func errorDescriptionNamesPattern() {
        #expect(patternError("10.0.0.0/33")?.description == "invalid pattern '10.0.0.0/33': invalid prefix length '33'; expected 0-32")
    }

    @Test func whitespaceTrimmed() throws {
        let p = try HostPattern(parsing: "  example.com:443\t")
        #expect(p.text == "example.com:443")
        #expect(p.matches(target("example.com:443")))
    }
}
