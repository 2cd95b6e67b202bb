
/// Name resolution served by the Veil relay over its authenticated TLS channel.
///
/// The client sends `RESOLVE host:port HTTP/1.1` with `Proxy-Authorization: Bearer <secret>`
/// (the same target form and checks as CONNECT); the relay answers with its own resolver chain:
///
///     HTTP/1.1 200 OK
///     Veil-Addresses: 192.0.2.1 2001:db8::1
///     Veil-TTL: 300
///     Veil-Source: doh https://1.1.1.1/dns-query
///     Content-Length: 0
///
/// or with an error status whose body is the reason, and closes.
public enum RelayResolution {
    /// The TTL announced when the relay's resolver does not say (static map, system resolver).
    public static let defaultTTL: UInt32 = 60

    /// A parsed answer to `RESOLVE`.
    public struct Answer: Sendable, Equatable {
        public let addresses: [String]
        public let ttl: UInt32
        public let source: String

        public init(addresses: [String], ttl: UInt32, source: String) {
            self.addresses = addresses
            self.ttl = ttl
            self.source = source
        }
    }

    /// The request a client sends.
    public static func request(host: String, port: UInt16, secret: String) -> [UInt8] {
        let target = (try? HostPort(host: host, port: port))?.description ?? "\(host):\(port)"
        return Array("RESOLVE \(target) HTTP/1.1\r\nHost: \(target)\r\nProxy-Authorization: Bearer \(secret)\r\n\r\n".utf8)
    }

    /// The relay's success answer.
    public static func response(addresses: [String], ttl: UInt32, source: String, httpVersion: String = "HTTP/1.1") -> [UInt8] {
        let s = HTTPStatusResponse.sanitise(source)
        return Array("\(httpVersion) 200 OK\r\nVeil-Addresses: \(addresses.joined(separator: " "))\r\nVeil-TTL: \(ttl)\r\nVeil-Source: \(s)\r\nContent-Length: 0\r\n\r\n".utf8)
    }

    public enum ParseResult: Sendable, Equatable {
        /// The head (and an error's body) has not all arrived.
        case needMore
        case answer(Answer)
        /// The relay refused or could not resolve: status and reason.
        case refused(Int, String)
        /// Not a well-formed answer.
        case malformed(String)
    }

    /// Parses what the relay sent so far; `ended` when it has closed the connection.
    public static func parse(_ bytes: [UInt8], ended: Bool = false) -> ParseResult {
        guard let head = RelayAnswer(bytes) else {
            return ended ? .malformed(bytes.isEmpty ? "relay closed without answering" : "incomplete answer") : .needMore
        }
        if head.status == 0 { return .malformed(head.reason) }
        guard head.status == 200 else {
            if !head.bodyComplete && !ended { return .needMore }
            return .refused(head.status, head.reason)
        }
        let text = String(decoding: bytes[..<(head.headLength - 4)], as: UTF8.self)
        var addresses: [String]?
        var ttl: UInt32?
        var source = ""
        for line in text.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = String(line[line.index(after: colon)...]).trimmingWhitespace()
            switch name {
            case "veil-addresses": addresses = value.split(separator: " ").map(String.init)
            case "veil-ttl":
                guard let t = UInt32(value) else { return .malformed("Veil-TTL '\(HTTPStatusResponse.sanitise(value))' is not a number") }
                ttl = t
            case "veil-source": source = value
            default: break
            }
        }
        guard let addresses else { return .malformed("200 without Veil-Addresses") }
        guard !addresses.isEmpty else { return .malformed("200 with an empty Veil-Addresses") }
        for a in addresses where IPAddressLiteral.parseIPv4(a) == nil && IPAddressLiteral.parseIPv6(a) == nil {
            return .malformed("'\(HTTPStatusResponse.sanitise(String(a.prefix(60))))' in Veil-Addresses is not an IP address")
        }
        return .answer(Answer(addresses: addresses, ttl: ttl ?? defaultTTL, source: source))
    }
}
