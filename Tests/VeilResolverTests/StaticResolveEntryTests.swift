import Testing
import VeilResolver
import VeilWire

private func resolveError(_ text: String) -> StaticResolveEntry.ParseError? {
    do {
        _ = try StaticResolveEntry(parsing: text)
        return nil
    } catch {
        return error
    }
}

@Suite("StaticResolveEntry")
struct StaticResolveEntryTests {
    @Test func single() throws {
        let e = try StaticResolveEntry(parsing: "example.com:443:127.0.0.1")
        #expect(e.host == "example.com")
        #expect(e.port == 443)
        #expect(e.target == (try HostPort(parsing: "example.com:443")))
        #expect(e.addresses == [try HostPort(parsing: "127.0.0.1:443")])
        #expect(e.description == "example.com:443:127.0.0.1")
    }

    @Test func several() throws {
        let e = try StaticResolveEntry(parsing: "Example.COM.:8443:[::1], 192.0.2.7 ,[2001:DB8::1]")
        #expect(e.host == "example.com")
        #expect(e.addresses.map(\.description) == ["[::1]:8443", "192.0.2.7:8443", "[2001:db8::1]:8443"])
        #expect(e.description == "example.com:8443:[::1],192.0.2.7,[2001:db8::1]")
    }

    @Test func bareIPv6() throws {
        let e = try StaticResolveEntry(parsing: "example.com:443:2001:db8::1")
        #expect(e.addresses.count == 1)
        #expect(e.addresses[0].kind == .ipv6)
        #expect(e.addresses[0].host == "2001:db8::1")
        let two = try StaticResolveEntry(parsing: "example.com:443:::1,fe80::2")
        #expect(two.addresses.map(\.host) == ["::1", "fe80::2"])
    }

    @Test func directInit() throws {
        let e = StaticResolveEntry(
            target: try HostPort(parsing: "a.b:443"), addresses: [try HostPort(parsing: "10.0.0.1:1")])
        #expect(e.addresses[0].port == 443)
    }

    @Test("bad entries", arguments: [
        ("", "expected HOST:PORT:ADDRESS"),
        ("example.com", "expected HOST:PORT:ADDRESS"),
        ("example.com:443", "expected HOST:PORT:ADDRESS"),
        (":443:127.0.0.1", "missing host name"),
        ("*:443:127.0.0.1", "wildcard host"),
        ("+example.com:443:127.0.0.1", "'+' and '-' prefixes"),
        ("-example.com:443:127.0.0.1", "'+' and '-' prefixes"),
        ("1.2.3.4:443:127.0.0.1", "HOST must be a name"),
        ("[::1]:443:127.0.0.1", "HOST must be a name"),
        ("exa mple.com:443:127.0.0.1", "invalid character 0x20"),
        ("example.com::127.0.0.1", "missing port"),
        ("example.com:0:127.0.0.1", "out of range"),
        ("example.com:65536:127.0.0.1", "out of range"),
        ("example.com:https:127.0.0.1", "invalid port"),
        ("example.com:443:", "missing address"),
        ("example.com:443: ", "missing address"),
        ("example.com:443:127.0.0.1,", "empty address in list"),
        ("example.com:443:,127.0.0.1", "empty address in list"),
        ("example.com:443:localhost", "is not an IPv4 or IPv6 address"),
        ("example.com:443:010.0.0.1", "invalid IPv4 address"),
        ("example.com:443:[1.2.3.4]", "brackets are only for IPv6"),
        ("example.com:443:[::1", "missing ']'"),
        ("example.com:443:[::1]:80", "unexpected text after ']'"),
        ("example.com:443:fe80::1%eth0", "zone ids"),
        ("example.com:443:1::2::3", "invalid IPv6 address"),
    ])
    func badEntry(text: String, fragment: String) {
        let error = resolveError(text)
        #expect(error?.message.contains(fragment) == true, "\(text): \(error?.message ?? "accepted")")
    }

    @Test func errorDescription() {
        #expect(
            resolveError("example.com:443:localhost")?.description
                == "invalid resolve entry 'example.com:443:localhost': 'localhost' is not an IPv4 or IPv6 address")
    }
}
