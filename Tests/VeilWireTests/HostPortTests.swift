import Testing
import VeilWire

private func parseError(_ text: String) -> String? {
    do {
        _ = try HostPort(parsing: text)
        return nil
    } catch {
        return error.message
    }
}

@Suite("HostPort")
struct HostPortTests {
    @Test func name() throws {
        let hp = try HostPort(parsing: "Example.COM:443")
        #expect(hp.host == "example.com")
        #expect(hp.port == 443)
        #expect(hp.kind == .name)
        #expect(hp.description == "example.com:443")
        #expect(hp.addressBytes == nil)
    }

    @Test func trailingDotStripped() throws {
        let hp = try HostPort(parsing: "example.com.:8443")
        #expect(hp.host == "example.com")
        #expect(hp == (try HostPort(parsing: "EXAMPLE.com:8443")))
    }

    @Test func underscoresAndHyphens() throws {
        let hp = try HostPort(parsing: "_dmarc.my-host.example:25")
        #expect(hp.host == "_dmarc.my-host.example")
        #expect(try HostPort(parsing: "localhost:22").host == "localhost")
    }

    @Test func ipv4() throws {
        let hp = try HostPort(parsing: "1.2.3.4:443")
        #expect(hp.kind == .ipv4)
        #expect(hp.host == "1.2.3.4")
        #expect(hp.description == "1.2.3.4:443")
        #expect(hp.addressBytes == [1, 2, 3, 4])
    }

    @Test func ipv6() throws {
        let hp = try HostPort(parsing: "[::1]:443")
        #expect(hp.kind == .ipv6)
        #expect(hp.host == "::1")
        #expect(hp.port == 443)
        #expect(hp.description == "[::1]:443")
        #expect(hp.hostForDisplay == "[::1]")
        let long = try HostPort(parsing: "[2001:DB8:0:0:0:0:0:1]:8443")
        #expect(long.host == "2001:db8::1")
        #expect(long == (try HostPort(parsing: "[2001:db8::1]:8443")))
        #expect(long.addressBytes?.count == 16)
    }

    @Test func portBounds() throws {
        #expect(try HostPort(parsing: "a:1").port == 1)
        #expect(try HostPort(parsing: "a:65535").port == 65535)
        #expect(parseError("a:0")?.contains("out of range") == true)
        #expect(parseError("a:65536")?.contains("out of range") == true)
        #expect(parseError("a:999999")?.contains("out of range") == true)
        #expect(parseError("a:+443")?.contains("invalid port") == true)
        #expect(parseError("a:-1")?.contains("invalid port") == true)
        #expect(parseError("a:0x1bb")?.contains("invalid port") == true)
        #expect(parseError("a:44 3")?.contains("invalid port") == true)
        #expect(parseError("a:")?.contains("missing port") == true)
    }

    @Test("rejected authorities", arguments: [
        ("example.com", "missing port"),
        ("[::1]", "missing port"),
        ("::1:443", "write IPv6 as [address]:port"),
        ("2001:db8::1", "write IPv6 as [address]:port"),
        ("a:b:c", "too many ':'"),
        ("[::1:443", "missing ']'"),
        ("[::1]443", "expected ':'"),
        ("[1.2.3.4]:443", "brackets are only for IPv6"),
        ("[example.com]:443", "brackets are only for IPv6"),
        ("[fe80::1%eth0]:443", "zone ids"),
        ("[fe80::1%25eth0]:443", "zone ids"),
        ("[::g]:443", "invalid IPv6 address"),
        ("", "empty address"),
        (":443", "empty host"),
        ("user@example.com:443", "invalid character '@'"),
        ("exa mple.com:443", "invalid character 0x20"),
        ("exämple.com:443", "invalid character 0xC3"),
        ("a..b:443", "empty label"),
        (".example.com:443", "empty label"),
        (".:443", "invalid host name"),
        ("example.com..:443", "empty label"),
        ("010.0.0.1:443", "invalid IPv4 address"),
        ("127.1:443", "invalid IPv4 address"),
        ("0x7f000001:443", "invalid IPv4 address"),
        ("2130706433:80", "invalid IPv4 address"),
        ("256.1.1.1:443", "invalid IPv4 address"),
        ("1.2.3.4.5:443", "invalid IPv4 address"),
    ])
    func rejected(text: String, fragment: String) {
        let message = parseError(text)
        #expect(message?.contains(fragment) == true, "\(text): \(message ?? "accepted")")
    }

    @Test func lengthLimits() throws {
        let label63 = String(repeating: "a", count: 63)
        #expect(try HostPort(parsing: "\(label63).com:443").host.count == 67)
        #expect(parseError("\(label63)a.com:443")?.contains("limit is 63") == true)
        // 4 * 63 + 3 dots = 255 > 253
        let long = [label63, label63, label63, label63].joined(separator: ".")
        #expect(parseError("\(long):443")?.contains("limit is 253") == true)
        let ok = [label63, label63, label63, String(repeating: "b", count: 61)].joined(separator: ".")
        #expect(ok.utf8.count == 253)
        #expect(try HostPort(parsing: "\(ok).:443").host == ok)
    }

    @Test func numericLookingNamesThatAreFine() throws {
        #expect(try HostPort(parsing: "1.2.3.example:443").kind == .name)
        #expect(try HostPort(parsing: "123abc:443").kind == .name)
        #expect(try HostPort(parsing: "0xzz:443").kind == .name)
    }

    @Test func hostAndPortInit() throws {
        #expect(try HostPort(host: "Example.com", port: 80).description == "example.com:80")
        #expect(try HostPort(host: "::1", port: 80).description == "[::1]:80")
        #expect(try HostPort(host: "[::1]", port: 80).description == "[::1]:80")
        #expect(try HostPort(host: "10.0.0.1", port: 80).kind == .ipv4)
        #expect(throws: HostPort.ParseError.self) { try HostPort(host: "x", port: 0) }
        #expect(throws: HostPort.ParseError.self) { try HostPort(host: "[10.0.0.1]", port: 80) }
        #expect(throws: HostPort.ParseError.self) { try HostPort(host: "[::1", port: 80) }
        #expect(throws: HostPort.ParseError.self) { try HostPort(host: "", port: 80) }
    }

    @Test func parsePortStatic() throws {
        #expect(try HostPort.parsePort("08080") == 8080)
        #expect(throws: HostPort.ParseError.self) { try HostPort.parsePort("") }
        #expect(throws: HostPort.ParseError.self) { try HostPort.parsePort("000000") }
    }

    @Test func errorTextIsSanitised() {
        let message = parseError("bad\u{1}host\nname:443") ?? ""
        #expect(!message.contains("\n"))
        #expect(!message.contains("\u{1}"))
    }
}
