import Testing
import VeilWire

@Suite("IPAddressLiteral")
struct IPAddressLiteralTests {
    @Test("strict dotted quad", arguments: [
        ("0.0.0.0", [0, 0, 0, 0]),
        ("127.0.0.1", [127, 0, 0, 1]),
        ("255.255.255.255", [255, 255, 255, 255]),
        ("10.20.30.40", [10, 20, 30, 40]),
    ] as [(String, [UInt8])])
    func validIPv4(text: String, octets: [UInt8]) {
        #expect(IPAddressLiteral.parseIPv4(text) == octets)
        #expect(IPAddressLiteral.formatIPv4(octets) == text)
    }

    @Test("rejects loose IPv4 forms", arguments: [
        "", "1", "1.2.3", "1.2.3.4.5", "010.0.0.1", "1.2.3.04", "256.0.0.1", "1.2.3.4.",
        ".1.2.3.4", "1..2.3", "0x7f.0.0.1", "1.2.3.-4", " 1.2.3.4", "1.2.3.4 ", "1000.1.1.1",
        "127.1", "١.2.3.4",
    ])
    func invalidIPv4(text: String) {
        #expect(IPAddressLiteral.parseIPv4(text) == nil)
    }

    @Test("IPv6 text forms and canonical output", arguments: [
        ("::", "::"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329"),
        ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
        ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("1::", "1::"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("fe80::", "fe80::"),
        ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
        ("::ffff:c000:0201", "::ffff:192.0.2.1"),
        ("64:ff9b::192.0.2.33", "64:ff9b::c000:221"),
        ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
    ])
    func validIPv6(text: String, canonical: String) throws {
        let octets = try #require(IPAddressLiteral.parseIPv6(text))
        #expect(octets.count == 16)
        #expect(IPAddressLiteral.formatIPv6(octets) == canonical)
        #expect(IPAddressLiteral.parseIPv6(canonical) == octets)
    }

    @Test("rejects malformed IPv6", arguments: [
        "", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", ":1::", "1::2:",
        "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8", "12345::", "g::1", "fe80::1%eth0", "[::1]",
        "::1.2.3", "::010.0.0.1", "::1.2.3.4:5", "1.2.3.4", "::ffff:1.2.3.4.5", " ::1",
        "1:2:3:4:5:6:7:1.2.3.4",
    ])
    func invalidIPv6(text: String) {
        #expect(IPAddressLiteral.parseIPv6(text) == nil)
    }

    @Test func mappedConversions() throws {
        let mapped = try #require(IPAddressLiteral.parseIPv6("::ffff:127.0.0.1"))
        #expect(IPAddressLiteral.ipv4Mapped(mapped) == [127, 0, 0, 1])
        #expect(IPAddressLiteral.mappedIPv6([127, 0, 0, 1]) == mapped)
        #expect(IPAddressLiteral.ipv4Mapped(try #require(IPAddressLiteral.parseIPv6("::1"))) == nil)
    }
}
