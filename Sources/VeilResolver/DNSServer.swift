import VeilWire
import VeilRuntime
import VeilTLS

/// One encrypted DNS server: DoH (RFC 8484) at a URL, or DoT (RFC 7858) at an address.
/// Its host must be an IP address (or be in the static map), so that reaching the resolver
/// leaks nothing; the certificate is verified against that IP or the name given.
public struct DNSServer: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case doh, dot, relay }

    public let kind: Kind
    public let address: SocketAddress
    /// What the certificate must name: the IP address, or the name given.
    public let verifyName: String
    /// DoH: the request path and the :authority / Host value.
    public let path: String
    public let authority: String
    public let description: String
    /// `.relay`: the pinned relay and its secret, and its place among the configured relays.
    public let relay: RelayEndpoint?
    public let relayIndex: Int

    init(kind: Kind, address: SocketAddress, verifyName: String, path: String, authority: String,
         description: String, relay: RelayEndpoint?, relayIndex: Int = 0) {
        self.kind = kind
        self.address = address
        self.verifyName = verifyName
        self.path = path
        self.authority = authority
        self.description = description
        self.relay = relay
        self.relayIndex = relayIndex
    }

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// `https://IP[:PORT]/PATH` or `https://NAME[:PORT]/PATH` with NAME in `staticMap`.
    public init(dohURL url: String, staticMap: StaticResolver) throws(ParseError) {
        guard url.hasPrefix("https://") else { throw ParseError(description: "DoH URL '\(url)' must start with https://") }
        let rest = url.dropFirst("https://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let hostPort = String(rest[..<slash])
        path = slash == rest.endIndex ? "/dns-query" : String(rest[slash...])
        let (host, port) = try DNSServer.split(hostPort, defaultPort: 443, what: "DoH URL '\(url)'")
        address = try DNSServer.address(host: host, port: port, staticMap: staticMap, what: "DoH URL '\(url)'")
        verifyName = host
        authority = hostPort
        kind = .doh
        description = "doh \(url)"
        relay = nil
        relayIndex = 0
    }

    /// `IP[:PORT]` (default port 853), optionally `#NAME` to verify the certificate against.
    public init(dotServer spec: String, staticMap: StaticResolver) throws(ParseError) {
        var s = spec
        var name: String?
        if let hash = s.firstIndex(of: "#") {
            name = String(s[s.index(after: hash)...])
            s = String(s[..<hash])
        }
        let (host, port) = try DNSServer.split(s, defaultPort: 853, what: "DoT server '\(spec)'")
        address = try DNSServer.address(host: host, port: port, staticMap: staticMap, what: "DoT server '\(spec)'")
        verifyName = name ?? host
        path = ""
        authority = ""
        kind = .dot
        description = "dot \(spec)"
        relay = nil
        relayIndex = 0
    }

    private static func split(_ hostPort: String, defaultPort: UInt16, what: String) throws(ParseError) -> (String, UInt16) {
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw ParseError(description: "\(what): unclosed [") }
            let host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.isEmpty { return (host, defaultPort) }
            guard after.hasPrefix(":"), let p = UInt16(after.dropFirst()), p > 0 else { throw ParseError(description: "\(what): bad port") }
            return (host, p)
        }
        let parts = hostPort.split(separator: ":", omittingEmptySubsequences: false)
        guard !hostPort.isEmpty, parts.count <= 2 else { throw ParseError(description: "\(what): bad host") }
        if parts.count == 1 { return (hostPort, defaultPort) }
        guard let p = UInt16(parts[1]), p > 0 else { throw ParseError(description: "\(what): bad port '\(parts[1])'") }
        return (String(parts[0]), p)
    }

    private static func address(host: String, port: UInt16, staticMap: StaticResolver, what: String) throws(ParseError) -> SocketAddress {
        if let a = SocketAddress(ip: host, port: port) { return a }
        if let a = staticMap.lookup(host: host, port: port)?.first { return a }
        throw ParseError(description: "\(what): '\(host)' is neither an IP address nor in the static map (--resolve \(host):\(port):ADDR): resolving the resolver would leak")
    }

    /// One query and its response over a fresh connection.
    func exchange(_ query: [UInt8], context: TLSContext, timeout: Double) throws(BlockingTLSConnection.Failure) -> [UInt8] {
        switch kind {
        case .relay:
            throw .init("the relay answers RESOLVE, not DNS messages")
        case .dot:
            let c = try BlockingTLSConnection(address: address, verifyName: verifyName, alpn: ["dot"],
                                              context: context, timeout: timeout)
            try c.write([UInt8(query.count >> 8), UInt8(query.count & 0xff)] + query)
            var got: [UInt8] = []
            while true {
                if got.count >= 2 {
                    let n = Int(got[0]) << 8 | Int(got[1])
                    if got.count >= 2 + n { return Array(got[2..<(2 + n)]) }
                }
                let more = try c.read()
                guard !more.isEmpty else { throw .init("DoT server closed before a whole answer (\(got.count) bytes)") }
                got += more
            }
        case .doh:
            let c = try BlockingTLSConnection(address: address, verifyName: verifyName, alpn: ["h2", "http/1.1"],
                                              context: context, timeout: timeout)
            if c.alpn == "h2" {
                return try DoHExchange.http2(c, query: query, authority: authority, path: path)
            }
            return try DoHExchange.http1(c, query: query, authority: authority, path: path)
        }
    }
}
