
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
///
/// HTTPS records (RFC 9460, type 65): a client that wants them adds `Veil-Want: https` to the
/// request; a relay that knows this header adds to its 200 answer either
///
///     Veil-HTTPS: <base64 of one record's RDATA> <base64 of the next> ...   (empty: none)
///     Veil-HTTPS-TTL: 300
///     Veil-HTTPS-Source: doh https://1.1.1.1/dns-query
///
/// or `Veil-HTTPS-Error: <reason>` (its resolver could not ask, or a record is malformed).
/// Both sides stay compatible: an older relay ignores the unknown request header and answers
/// without these headers (the client then says the relay does not answer HTTPS queries and asks
/// its next server), and an older client neither asks nor reads them.
public enum RelayResolution {
    /// The TTL announced when the relay's resolver does not say (static map, system resolver).
    public static let defaultTTL: UInt32 = 60

    /// A parsed answer to `RESOLVE`.
    public struct Answer: Sendable, Equatable {
        public let addresses: [String]
        public let ttl: UInt32
        public let source: String
        /// The HTTPS records part; nil when the relay did not say (not asked, or an older relay).
        public let https: HTTPSPart?

        public init(addresses: [String], ttl: UInt32, source: String, https: HTTPSPart? = nil) {
            self.addresses = addresses
            self.ttl = ttl
            self.source = source
            self.https = https
        }
    }

    /// The name's HTTPS records as the relay's resolver answered them: each record's RDATA
    /// (none: the name publishes no HTTPS record), or why there is no answer.
    public enum HTTPSPart: Sendable, Equatable {
        case records([[UInt8]], ttl: UInt32, source: String = "")
        case failure(String)
    }

    /// The request header that asks for HTTPS records too.
    public static let wantHTTPSHeader = "Veil-Want"

    /// Whether a request's `Veil-Want` value asks for HTTPS records.
    public static func wantsHTTPS(_ value: String?) -> Bool {
        value?.split(separator: ",").contains { String($0).trimmingWhitespace().lowercased() == "https" } ?? false
    }

    /// The request a client sends (`https`: ask for the name's HTTPS records too).
    public static func request(host: String, port: UInt16, secret: String, https: Bool = false) -> [UInt8] {
        let target = (try? HostPort(host: host, port: port))?.description ?? "\(host):\(port)"
        let want = https ? "\(wantHTTPSHeader): https\r\n" : ""
        return Array("RESOLVE \(target) HTTP/1.1\r\nHost: \(target)\r\n\(want)Proxy-Authorization: Bearer \(secret)\r\n\r\n".utf8)
    }

    /// The relay's success answer (`https`: only when the client asked for HTTPS records).
    public static func response(addresses: [String], ttl: UInt32, source: String, https: HTTPSPart? = nil,
                                httpVersion: String = "HTTP/1.1") -> [UInt8] {
        let s = HTTPStatusResponse.sanitise(source)
        var extra = ""
        switch https {
        case .records(let records, let ttl, let source)?:
            extra = "Veil-HTTPS: \(records.map(Base64.encode).joined(separator: " "))\r\nVeil-HTTPS-TTL: \(ttl)\r\n"
            if !source.isEmpty { extra += "Veil-HTTPS-Source: \(HTTPStatusResponse.sanitise(source))\r\n" }
        case .failure(let why)?:
            extra = "Veil-HTTPS-Error: \(HTTPStatusResponse.sanitise(why))\r\n"
        case nil:
            break
        }
        return Array("\(httpVersion) 200 OK\r\nVeil-Addresses: \(addresses.joined(separator: " "))\r\nVeil-TTL: \(ttl)\r\nVeil-Source: \(s)\r\n\(extra)Content-Length: 0\r\n\r\n".utf8)
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
        return parse(status: head.status, reason: head.reason, fields: head.fields(in: bytes))
    }

    /// An answer given as a status, a reason (for a refusal) and fields with lower-case names:
    /// the relay's answer on an HTTP/2 stream (`veil-reason` carries a refusal's reason).
    public static func parse(status: Int, reason: String, fields: [(name: String, value: String)]) -> ParseResult {
        guard status == 200 else { return .refused(status, reason) }
        var addresses: [String]?
        var ttl: UInt32?
        var source = ""
        var httpsRecords: [[UInt8]]?
        var httpsTTL: UInt32?
        var httpsError: String?
        var httpsSource = ""
        for (name, value) in fields {
            switch name {
            case "veil-addresses": addresses = value.split(separator: " ").map(String.init)
            case "veil-ttl":
                guard let t = UInt32(value) else { return .malformed("Veil-TTL '\(HTTPStatusResponse.sanitise(value))' is not a number") }
                ttl = t
            case "veil-source": source = value
            case "veil-https":
                var records: [[UInt8]] = []
                for item in value.split(separator: " ") {
                    guard let rdata = Base64.decode(item), !rdata.isEmpty else {
                        return .malformed("Veil-HTTPS '\(HTTPStatusResponse.sanitise(String(item.prefix(60))))' is not base64")
                    }
                    records.append(rdata)
                }
                httpsRecords = records
            case "veil-https-ttl":
                guard let t = UInt32(value) else { return .malformed("Veil-HTTPS-TTL '\(HTTPStatusResponse.sanitise(value))' is not a number") }
                httpsTTL = t
            case "veil-https-error": httpsError = value
            case "veil-https-source": httpsSource = value
            default: break
            }
        }
        guard let addresses else { return .malformed("200 without Veil-Addresses") }
        guard !addresses.isEmpty else { return .malformed("200 with an empty Veil-Addresses") }
        for a in addresses where IPAddressLiteral.parseIPv4(a) == nil && IPAddressLiteral.parseIPv6(a) == nil {
            return .malformed("'\(HTTPStatusResponse.sanitise(String(a.prefix(60))))' in Veil-Addresses is not an IP address")
        }
        var https: HTTPSPart?
        if let httpsError {
            https = .failure(httpsError)
        } else if let httpsRecords {
            https = .records(httpsRecords, ttl: httpsTTL ?? defaultTTL, source: httpsSource)
        }
        return .answer(Answer(addresses: addresses, ttl: ttl ?? defaultTTL, source: source, https: https))
    }
}
