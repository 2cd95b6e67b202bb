/// Strict parsing and canonical formatting of textual IP addresses. Pure; no `inet_pton`.
///
/// IPv4 accepts only the strict dotted quad (`192.0.2.1`): four decimal octets 0-255 without
/// leading zeros, so the octal / hex / short forms that `inet_aton` would accept (`010.0.0.1`,
/// `0x7f.1`, `127.1`) are rejected. IPv6 follows RFC 4291 section 2.2 text forms, including
/// `::` compression and a trailing embedded IPv4 quad; zone ids (`fe80::1%eth0`) are rejected.
/// Formatting follows RFC 5952 (lowercase, shortest, longest zero run compressed).
public enum IPAddressLiteral {
    /// The four octets of a strict dotted-quad IPv4 address, or nil when `text` is not one.
    public static func parseIPv4(_ text: some StringProtocol) -> [UInt8]? {
        parseIPv4(bytes: Array(text.utf8)[...])
    }

    /// The sixteen octets of an IPv6 address (without brackets), or nil when `text` is not one.
    public static func parseIPv6(_ text: some StringProtocol) -> [UInt8]? {
        let b = Array(text.utf8)
        if b.isEmpty || b.count > 45 { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var compressed = false
        var i = 0
        if b[0] == UInt8(ascii: ":") {
            guard b.count >= 2, b[1] == UInt8(ascii: ":") else { return nil }
            compressed = true
            i = 2
        }
        while i < b.count {
            let groupStart = i
            var value: UInt32 = 0
            while i < b.count, let digit = hexValue(b[i]) {
                value = value << 4 | UInt32(digit)
                i += 1
                if i - groupStart > 4 { break }
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                // Embedded IPv4: must be the final piece and start at the group start.
                guard let quad = parseIPv4(bytes: b[groupStart...]) else { return nil }
                let hi = UInt16(quad[0]) << 8 | UInt16(quad[1])
                let lo = UInt16(quad[2]) << 8 | UInt16(quad[3])
                if compressed { tail += [hi, lo] } else { head += [hi, lo] }
                i = b.count
                break
            }
            let digits = i - groupStart
            guard digits >= 1, digits <= 4 else { return nil }
            if compressed { tail.append(UInt16(value)) } else { head.append(UInt16(value)) }
            if i == b.count { break }
            guard b[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            if i < b.count, b[i] == UInt8(ascii: ":") {
                if compressed { return nil }
                compressed = true
                i += 1
            } else if i == b.count {
                return nil  // trailing single colon
            }
        }
        let groups = head.count + tail.count
        if compressed {
            guard groups <= 7 else { return nil }
        } else {
            guard groups == 8 else { return nil }
        }
        let all = head + Array(repeating: 0, count: 8 - groups) + tail
        var out: [UInt8] = []
        out.reserveCapacity(16)
        for g in all {
            out.append(UInt8(g >> 8))
            out.append(UInt8(g & 0xff))
        }
        return out
    }

    /// Dotted-quad text of four octets.
    public static func formatIPv4(_ octets: [UInt8]) -> String {
        precondition(octets.count == 4, "IPv4 address needs 4 octets")
        return octets.map { String($0) }.joined(separator: ".")
    }

    /// RFC 5952 canonical text of sixteen octets (no brackets). IPv4-mapped addresses
    /// (`::ffff:0:0/96`) are written with a dotted quad tail, e.g. `::ffff:192.0.2.1`.
    public static func formatIPv6(_ octets: [UInt8]) -> String {
        precondition(octets.count == 16, "IPv6 address needs 16 octets")
        if octets[0..<10].allSatisfy({ $0 == 0 }), octets[10] == 0xff, octets[11] == 0xff {
            return "::ffff:" + formatIPv4(Array(octets[12..<16]))
        }
        var groups: [UInt16] = []
        for k in 0..<8 { groups.append(UInt16(octets[2 * k]) << 8 | UInt16(octets[2 * k + 1])) }
        // Longest run of zero groups (length >= 2), first one on ties.
        var bestStart = -1
        var bestLength = 0
        var k = 0
        while k < 8 {
            if groups[k] == 0 {
                var e = k
                while e < 8, groups[e] == 0 { e += 1 }
                if e - k > bestLength { bestStart = k; bestLength = e - k }
                k = e
            } else {
                k += 1
            }
        }
        if bestLength < 2 { bestStart = -1 }
        var text = ""
        k = 0
        while k < 8 {
            if k == bestStart {
                text += "::"
                k += bestLength
                continue
            }
            if !text.isEmpty, !text.hasSuffix(":") { text += ":" }
            text += String(groups[k], radix: 16)
            k += 1
        }
        return text
    }

    /// The IPv4 octets embedded in an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else nil.
    public static func ipv4Mapped(_ octets: [UInt8]) -> [UInt8]? {
        guard octets.count == 16, octets[0..<10].allSatisfy({ $0 == 0 }),
            octets[10] == 0xff, octets[11] == 0xff
        else { return nil }
        return Array(octets[12..<16])
    }

    /// The IPv4-mapped IPv6 form (`::ffff:a.b.c.d`) of four IPv4 octets.
    public static func mappedIPv6(_ ipv4: [UInt8]) -> [UInt8] {
        precondition(ipv4.count == 4, "IPv4 address needs 4 octets")
        return Array(repeating: 0, count: 10) + [0xff, 0xff] + ipv4
    }

    static func parseIPv4(bytes: ArraySlice<UInt8>) -> [UInt8]? {
        if bytes.isEmpty || bytes.count > 15 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(4)
        var value = 0
        var digits = 0
        var firstDigit: UInt8 = 0
        for c in bytes {
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                if digits == 0 { firstDigit = c }
                digits += 1
                if digits > 3 { return nil }
                value = value * 10 + Int(c - UInt8(ascii: "0"))
            } else if c == UInt8(ascii: ".") {
                guard let octet = finishOctet(value, digits, firstDigit) else { return nil }
                out.append(octet)
                if out.count > 3 { return nil }
                value = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard let octet = finishOctet(value, digits, firstDigit) else { return nil }
        out.append(octet)
        return out.count == 4 ? out : nil
    }

    private static func finishOctet(_ value: Int, _ digits: Int, _ firstDigit: UInt8) -> UInt8? {
        guard digits >= 1, value <= 255 else { return nil }
        if digits > 1, firstDigit == UInt8(ascii: "0") { return nil }  // no leading zeros
        return UInt8(value)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
