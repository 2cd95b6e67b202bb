/// A validated `host:port` pair: the target of a CONNECT request, an upstream address, or a
/// listen address.
///
/// `host` is normalised: names are lowercased with a single trailing dot removed, IPv4 is the
/// strict dotted quad, IPv6 is the RFC 5952 canonical text *without* brackets (so `[0:0::1]`
/// and `[::1]` compare equal). `description` adds the brackets back for IPv6.
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    /// What `host` holds.
    public enum Kind: Sendable, Hashable {
        /// A DNS name (letters, digits, `-`, `_`, dot-separated labels).
        case name
        /// An IPv4 dotted quad.
        case ipv4
        /// An IPv6 address (canonical text, no brackets, no zone id).
        case ipv6
    }

    /// Why an authority, host or port was rejected. `message` is one human-readable line.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Lowercased name, IPv4 text, or canonical IPv6 text without brackets.
    public let host: String
    /// TCP port, 1-65535.
    public let port: UInt16
    /// What `host` holds.
    public let kind: Kind

    /// Parses an authority: `host:port`, `1.2.3.4:443` or `[::1]:443`.
    ///
    /// The port is required and must be decimal 1-65535. User info (`user@`), schemes, paths,
    /// unbracketed IPv6 and IPv6 zone ids are rejected.
    public init(parsing authority: some StringProtocol) throws(ParseError) {
        let text = String(authority)
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw ParseError("empty address; expected host:port") }
        let hostPart: Substring
        let portPart: Substring
        if bytes[0] == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ParseError("missing ']' after IPv6 address in '\(HostPort.clip(text))'")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard let first = rest.first else {
                throw ParseError("missing port in '\(HostPort.clip(text))'; expected [address]:port")
            }
            guard first == ":" else {
                throw ParseError("expected ':' and a port after ']' in '\(HostPort.clip(text))'")
            }
            portPart = rest.dropFirst()
            let (host, kind) = try HostPort.parseHost(hostPart, bracketed: true)
            guard kind == .ipv6 else {
                throw ParseError(
                    "brackets are only for IPv6 addresses, found '[\(HostPort.clip(hostPart))]'")
            }
            self.host = host
            self.kind = kind
        } else {
            let colons = bytes.filter { $0 == UInt8(ascii: ":") }.count
            if colons == 0 {
                _ = try HostPort.parseHost(text[...], bracketed: false)
                throw ParseError("missing port in '\(HostPort.clip(text))'; expected host:port")
            }
            if colons > 1 {
                if IPAddressLiteral.parseIPv6(text) != nil {
                    throw ParseError(
                        "missing port in '\(HostPort.clip(text))'; write IPv6 as [address]:port")
                }
                throw ParseError(
                    "too many ':' in '\(HostPort.clip(text))'; write IPv6 as [address]:port")
            }
            guard let colon = text.firstIndex(of: ":") else {
                throw ParseError("missing port in '\(HostPort.clip(text))'; expected host:port")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            let (host, kind) = try HostPort.parseHost(hostPart, bracketed: false)
            self.host = host
            self.kind = kind
        }
        self.port = try HostPort.parsePort(portPart)
    }

    /// Builds a target from a separate host (brackets optional for IPv6) and port.
    /// The host is validated and normalised exactly as in `init(parsing:)`.
    public init(host: some StringProtocol, port: UInt16) throws(ParseError) {
        guard port != 0 else { throw ParseError("port 0 is not allowed; expected 1-65535") }
        var text = Substring(host)
        var bracketed = false
        if text.hasPrefix("[") {
            guard text.hasSuffix("]"), text.count >= 2 else {
                if text.contains("]") {
                    throw ParseError("unexpected text after ']' in '\(HostPort.clip(text))'")
                }
                throw ParseError("missing ']' after IPv6 address in '\(HostPort.clip(text))'")
            }
            text = text.dropFirst().dropLast()
            bracketed = true
        }
        let (normalised, kind) = try HostPort.parseHost(text, bracketed: bracketed)
        if bracketed, kind != .ipv6 {
            throw ParseError("brackets are only for IPv6 addresses, found '\(HostPort.clip(host))'")
        }
        self.host = normalised
        self.kind = kind
        self.port = port
    }

    /// `host:port`, or `[v6]:port` for IPv6.
    public var description: String {
        kind == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// `host`, with brackets for IPv6 (the form used in URLs and `Host` headers).
    public var hostForDisplay: String {
        kind == .ipv6 ? "[\(host)]" : host
    }

    /// Network-order address octets (4 for IPv4, 16 for IPv6); nil for names.
    public var addressBytes: [UInt8]? {
        switch kind {
        case .name: return nil
        case .ipv4: return IPAddressLiteral.parseIPv4(host)
        case .ipv6: return IPAddressLiteral.parseIPv6(host)
        }
    }

    /// Validates and normalises a host without port. IPv6 is accepted without brackets here
    /// only when `bracketed` is true or the text contains ':' (callers strip brackets).
    ///
    /// Names: labels of letters, digits, `-` and `_`, separated by single dots, each 1-63
    /// bytes, at most 253 bytes in total after dropping one optional trailing dot; lowercased.
    /// A name made only of numeric labels (`127.1`, `010.0.0.1`, `0x7f000001`) is rejected as
    /// a malformed IPv4 address rather than passed to a resolver that might read it as one.
    public static func parseHost(
        _ text: some StringProtocol, bracketed: Bool = false
    ) throws(ParseError) -> (host: String, kind: Kind) {
        let s = String(text)
        let bytes = Array(s.utf8)
        if bytes.isEmpty { throw ParseError("empty host") }
        if bytes.contains(UInt8(ascii: ":")) || bracketed {
            if bytes.contains(UInt8(ascii: "%")) {
                throw ParseError("IPv6 zone ids are not supported in '\(clip(s))'")
            }
            guard let octets = IPAddressLiteral.parseIPv6(s) else {
                if !bytes.contains(UInt8(ascii: ":")) {
                    // e.g. "[1.2.3.4]" or "[example.com]": validate so the caller can say why.
                    return try parseHost(s, bracketed: false)
                }
                throw ParseError("invalid IPv6 address '\(clip(s))'")
            }
            return (IPAddressLiteral.formatIPv6(octets), .ipv6)
        }
        if let octets = IPAddressLiteral.parseIPv4(s) {
            return (IPAddressLiteral.formatIPv4(octets), .ipv4)
        }
        var name = bytes[...]
        if name.last == UInt8(ascii: ".") { name = name.dropLast() }
        if name.isEmpty { throw ParseError("invalid host name '\(clip(s))'") }
        if name.count > 253 {
            throw ParseError("host name is \(name.count) bytes long; the limit is 253")
        }
        var labels: [ArraySlice<UInt8>] = []
        var start = name.startIndex
        for i in name.indices {
            let c = name[i]
            if c == UInt8(ascii: ".") {
                labels.append(name[start..<i])
                start = i + 1
                continue
            }
            let ok =
                (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z"))
                || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
                || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
            if !ok {
                throw ParseError(
                    "invalid character \(describe(byte: c)) in host name '\(clip(s))'")
            }
        }
        labels.append(name[start..<name.endIndex])
        for label in labels {
            if label.isEmpty { throw ParseError("empty label in host name '\(clip(s))'") }
            if label.count > 63 {
                throw ParseError("label of \(label.count) bytes in host name '\(clip(s))'; the limit is 63")
            }
        }
        if labels.allSatisfy(isNumericLabel) {
            throw ParseError(
                "invalid IPv4 address '\(clip(s))'; expected four decimal octets 0-255 without leading zeros")
        }
        return (String(decoding: name, as: UTF8.self).lowercased(), .name)
    }

    /// Parses a decimal port 1-65535 (at most 5 digits, no sign).
    public static func parsePort(_ text: some StringProtocol) throws(ParseError) -> UInt16 {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw ParseError("missing port; expected a number 1-65535") }
        guard bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw ParseError("invalid port '\(clip(text))'; expected a decimal number 1-65535")
        }
        guard bytes.count <= 5 else {
            throw ParseError("port \(clip(text)) is out of range; expected 1-65535")
        }
        var value = 0
        for c in bytes { value = value * 10 + Int(c - UInt8(ascii: "0")) }
        guard value >= 1, value <= 65535 else {
            throw ParseError("port \(clip(text)) is out of range; expected 1-65535")
        }
        return UInt16(value)
    }

    /// Digits only, or `0x` followed by hex digits: a label `inet_aton` would read as a number.
    private static func isNumericLabel(_ label: ArraySlice<UInt8>) -> Bool {
        let digits = label.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if digits { return true }
        if label.count >= 2, label.first == UInt8(ascii: "0"),
            label[label.startIndex + 1] == UInt8(ascii: "x")
                || label[label.startIndex + 1] == UInt8(ascii: "X")
        {
            return label.dropFirst(2).allSatisfy {
                ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                    || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f"))
                    || ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "F"))
            }
        }
        return false
    }

    /// A printable, length-limited copy of untrusted text for use inside error messages.
    public static func clip(_ text: some StringProtocol, limit: Int = 80) -> String {
        var out = ""
        var count = 0
        for scalar in String(text).unicodeScalars {
            if count == limit {
                out += "..."
                break
            }
            if scalar.value < 0x20 || (scalar.value >= 0x7f && scalar.value < 0xa0) {
                out += "?"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return out
    }

    /// `'x'` for printable ASCII, `0xNN` otherwise.
    public static func describe(byte: UInt8) -> String {
        if byte > 0x20, byte < 0x7f {
            return "'" + String(UnicodeScalar(byte)) + "'"
        }
        let hex = String(byte, radix: 16, uppercase: true)
        return "0x" + (hex.count == 1 ? "0" + hex : hex)
    }
}
