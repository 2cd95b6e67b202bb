/// A pattern over CONNECT targets, as used by allow / deny rules.
///
/// Host part:
/// - `*`: any host;
/// - `example.com`: exactly that name (case-insensitive, trailing dot ignored);
/// - `*.example.com`: any subdomain of `example.com`, not the apex itself;
/// - `.example.com`: `example.com` and any subdomain;
/// - `192.0.2.1`, `2001:db8::1`, `[2001:db8::1]`: one address;
/// - `10.0.0.0/8`, `2001:db8::/32`, `[2001:db8::/32]`: a CIDR block (host bits must be zero).
///
/// Optional port part after `:`: `443`, a range `8000-9000`, or `*` (the default). An IPv6
/// host with a port must be bracketed: `[::1]:443`, `[fe80::/10]:*`. Unbracketed IPv6 that
/// could also be read as address plus port (`::1:22`) is rejected as ambiguous.
///
/// Name patterns match only name targets and address patterns only address targets: this is
/// a check on what the client asked for, not on what a name resolves to. IPv4 patterns also
/// match IPv4-mapped IPv6 targets (`[::ffff:127.0.0.1]` matches `127.0.0.0/8`) and vice versa.
public struct HostPattern: Sendable, Hashable, CustomStringConvertible {
    /// What the host part matches.
    public enum Host: Sendable, Hashable {
        /// `*`
        case any
        /// `example.com` (stored lowercased, without trailing dot).
        case exact(String)
        /// `*.example.com`: strict subdomains of the stored name.
        case subdomains(of: String)
        /// `.example.com`: the stored name and its subdomains.
        case domainAndSubdomains(String)
        /// IPv4 network (4 octets, host bits zero) and prefix length 0-32.
        case ipv4(network: [UInt8], prefixLength: Int)
        /// IPv6 network (16 octets, host bits zero) and prefix length 0-128.
        case ipv6(network: [UInt8], prefixLength: Int)
    }

    /// Why a pattern was rejected; `description` is `invalid pattern '...': message`.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let pattern: String
        public let message: String
        public init(pattern: String, message: String) {
            self.pattern = pattern
            self.message = message
        }
        public var description: String { "invalid pattern '\(HostPort.clip(pattern))': \(message)" }
    }

    /// The pattern as written (surrounding whitespace removed).
    public let text: String
    /// The host part.
    public let host: Host
    /// Allowed ports; nil means any port.
    public let ports: ClosedRange<UInt16>?

    /// Parses a pattern (see the type documentation for the syntax).
    public init(parsing pattern: some StringProtocol) throws(ParseError) {
        var trimmed = Substring(pattern)
        while let f = trimmed.first, f == " " || f == "\t" { trimmed = trimmed.dropFirst() }
        while let l = trimmed.last, l == " " || l == "\t" { trimmed = trimmed.dropLast() }
        let text = String(trimmed)
        self.text = text
        func fail(_ message: String) -> ParseError { ParseError(pattern: text, message: message) }
        if text.isEmpty { throw fail("empty pattern") }

        var hostText: Substring
        var portText: Substring?
        var bracketed = false
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("missing ']'") }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.first == ":" else { throw fail("expected ':' and a port after ']'") }
                portText = rest.dropFirst()
            }
            bracketed = true
        } else {
            let colons = text.filter { $0 == ":" }.count
            if colons == 1, let colon = text.firstIndex(of: ":") {
                hostText = text[..<colon]
                portText = text[text.index(after: colon)...]
            } else {
                // No port, or a bare IPv6 address / block (which cannot carry one).
                hostText = text[...]
                if colons > 1, let reading = HostPattern.portReading(of: text) {
                    throw fail(
                        "ambiguous IPv6 pattern; write [\(reading.address)]:\(reading.port) for a port or [\(text)] for the address")
                }
            }
        }

        do {
            self.host = try HostPattern.parseHostPart(hostText, bracketed: bracketed)
        } catch {
            throw fail(error.message)
        }
        if let portText {
            do {
                self.ports = try HostPattern.parsePorts(portText)
            } catch {
                throw fail(error.message)
            }
        } else {
            self.ports = nil
        }
    }

    /// The pattern as written.
    public var description: String { text }

    /// Whether `target` matches both the host part and the port part.
    public func matches(_ target: HostPort) -> Bool {
        if let ports, !ports.contains(target.port) { return false }
        switch host {
        case .any:
            return true
        case .exact(let name):
            return target.kind == .name && target.host == name
        case .subdomains(let name):
            return target.kind == .name && target.host.hasSuffix("." + name)
        case .domainAndSubdomains(let name):
            return target.kind == .name && (target.host == name || target.host.hasSuffix("." + name))
        case .ipv4(let network, let prefixLength):
            guard var bytes = target.addressBytes else { return false }
            if target.kind == .ipv6 {
                guard let mapped = IPAddressLiteral.ipv4Mapped(bytes) else { return false }
                bytes = mapped
            }
            return HostPattern.prefixMatches(bytes, network, prefixLength)
        case .ipv6(let network, let prefixLength):
            guard var bytes = target.addressBytes else { return false }
            if target.kind == .ipv4 { bytes = IPAddressLiteral.mappedIPv6(bytes) }
            return HostPattern.prefixMatches(bytes, network, prefixLength)
        }
    }

    // MARK: - Parsing pieces

    /// For unbracketed text such as `::1:22`, which is both an IPv6 address and what a user
    /// may have meant as address `::1` with port 22: that second reading, else nil.
    private static func portReading(of text: String) -> (address: String, port: String)? {
        guard !text.contains("/"), let colon = text.lastIndex(of: ":") else { return nil }
        let tail = text[text.index(after: colon)...]
        let head = text[..<colon]
        guard !tail.isEmpty, tail.count <= 5, tail.allSatisfy({ $0 >= "0" && $0 <= "9" }),
            IPAddressLiteral.parseIPv6(text) != nil, IPAddressLiteral.parseIPv6(head) != nil
        else { return nil }
        return (String(head), String(tail))
    }

    private static func parseHostPart(_ text: Substring, bracketed: Bool) throws(HostPort.ParseError) -> Host {
        if text.isEmpty { throw HostPort.ParseError("empty host") }
        if text == "*" {
            if bracketed { throw HostPort.ParseError("brackets are only for IPv6 addresses") }
            return .any
        }
        if let slash = text.firstIndex(of: "/") {
            let addressText = text[..<slash]
            let prefixText = text[text.index(after: slash)...]
            if let v4 = IPAddressLiteral.parseIPv4(addressText) {
                if bracketed { throw HostPort.ParseError("brackets are only for IPv6 addresses") }
                let prefix = try parsePrefix(prefixText, max: 32)
                try checkHostBits(v4, prefix, addressText: addressText, format: IPAddressLiteral.formatIPv4)
                return .ipv4(network: v4, prefixLength: prefix)
            }
            if let v6 = IPAddressLiteral.parseIPv6(addressText) {
                let prefix = try parsePrefix(prefixText, max: 128)
                try checkHostBits(v6, prefix, addressText: addressText, format: IPAddressLiteral.formatIPv6)
                return .ipv6(network: v6, prefixLength: prefix)
            }
            throw HostPort.ParseError(
                "'\(HostPort.clip(addressText))' before '/' is not an IPv4 or IPv6 address")
        }
        if text.contains("*") {
            guard text.hasPrefix("*."), !text.dropFirst(2).contains("*") else {
                throw HostPort.ParseError("'*' is only allowed as the whole host or as a leading '*.'")
            }
            let (name, kind) = try HostPort.parseHost(text.dropFirst(2))
            guard kind == .name else { throw HostPort.ParseError("'*.' must be followed by a domain name") }
            return .subdomains(of: name)
        }
        if text.hasPrefix(".") {
            let (name, kind) = try HostPort.parseHost(text.dropFirst())
            guard kind == .name else { throw HostPort.ParseError("'.' must be followed by a domain name") }
            return .domainAndSubdomains(name)
        }
        let (host, kind) = try HostPort.parseHost(text, bracketed: bracketed)
        if bracketed, kind != .ipv6 { throw HostPort.ParseError("brackets are only for IPv6 addresses") }
        switch kind {
        case .name: return .exact(host)
        case .ipv4:
            guard let v4 = IPAddressLiteral.parseIPv4(host) else { throw HostPort.ParseError("bad IPv4 address '\(host)'") }
            return .ipv4(network: v4, prefixLength: 32)
        case .ipv6:
            guard let v6 = IPAddressLiteral.parseIPv6(host) else { throw HostPort.ParseError("bad IPv6 address '\(host)'") }
            return .ipv6(network: v6, prefixLength: 128)
        }
    }

    private static func parsePrefix(_ text: Substring, max: Int) throws(HostPort.ParseError) -> Int {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 3,
            bytes.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            bytes.count == 1 || bytes[0] != UInt8(ascii: "0"),
            let value = Int(text), value <= max
        else {
            throw HostPort.ParseError("invalid prefix length '\(HostPort.clip(text))'; expected 0-\(max)")
        }
        return value
    }

    private static func checkHostBits(
        _ address: [UInt8], _ prefix: Int, addressText: Substring, format: ([UInt8]) -> String
    ) throws(HostPort.ParseError) {
        let network = mask(address, prefix)
        if network != address {
            throw HostPort.ParseError(
                "\(addressText)/\(prefix) has host bits set; did you mean \(format(network))/\(prefix)?")
        }
    }

    /// Parses `443`, `8000-9000` or `*` (nil: any port).
    private static func parsePorts(_ text: Substring) throws(HostPort.ParseError) -> ClosedRange<UInt16>? {
        if text == "*" { return nil }
        if text.isEmpty { throw HostPort.ParseError("missing port after ':'") }
        if let dash = text.firstIndex(of: "-") {
            let low = try HostPort.parsePort(text[..<dash])
            let high = try HostPort.parsePort(text[text.index(after: dash)...])
            guard low <= high else {
                throw HostPort.ParseError("port range \(low)-\(high) is empty; write the lower port first")
            }
            return low...high
        }
        let port = try HostPort.parsePort(text)
        return port...port
    }

    private static func mask(_ address: [UInt8], _ prefix: Int) -> [UInt8] {
        var out = address
        for i in 0..<out.count {
            let bitsHere = Swift.max(0, Swift.min(8, prefix - i * 8))
            let m: UInt8 = bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
            out[i] &= m
        }
        return out
    }

    private static func prefixMatches(_ address: [UInt8], _ network: [UInt8], _ prefix: Int) -> Bool {
        address.count == network.count && mask(address, prefix) == network
    }
}
