import VeilWire
/// A fixed name-to-address mapping in curl's `--resolve` syntax: `HOST:PORT:ADDR[,ADDR...]`.
///
///     example.com:443:127.0.0.1
///     example.com:443:[::1],192.0.2.7
///     example.com:443:2001:db8::1        (a bare IPv6 address is accepted after the port)
///
/// HOST is a DNS name (case-insensitive, trailing dot ignored); IP literals and curl's `*`,
/// `+` (timeout) and `-` (removal) forms are not supported. PORT is decimal 1-65535. Each ADDR
/// is an IPv4 address or an IPv6 address, bracketed or not; whitespace around ADDRs is
/// ignored. The entry applies to CONNECT targets equal to `target`.
public struct StaticResolveEntry: Sendable, Hashable, CustomStringConvertible {
    /// Why an entry was rejected; `description` is `invalid resolve entry '...': message`.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let entry: String
        public let message: String
        public init(entry: String, message: String) {
            self.entry = entry
            self.message = message
        }
        public var description: String {
            "invalid resolve entry '\(HostPort.clip(entry))': \(message)"
        }
    }

    /// The name and port this entry answers for (kind `.name`).
    public let target: HostPort
    /// The addresses to connect to, in order, each with the target's port.
    public let addresses: [HostPort]

    /// The host name (lowercased, no trailing dot).
    public var host: String { target.host }
    /// The port.
    public var port: UInt16 { target.port }

    /// Parses `HOST:PORT:ADDR[,ADDR...]`.
    public init(parsing entry: some StringProtocol) throws(ParseError) {
        let text = String(entry)
        func fail(_ message: String) -> ParseError { ParseError(entry: text, message: message) }
        let fields = text.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3 else {
            throw fail("expected HOST:PORT:ADDRESS[,ADDRESS...]")
        }
        let hostText = fields[0]
        if hostText.isEmpty { throw fail("missing host name before the first ':'") }
        if hostText == "*" { throw fail("wildcard host '*' is not supported; name one host per entry") }
        if hostText.hasPrefix("+") || hostText.hasPrefix("-") {
            throw fail("curl's '+' and '-' prefixes are not supported")
        }
        if hostText.hasPrefix("[") { throw fail("HOST must be a name, not an address") }
        let port: UInt16
        do {
            port = try HostPort.parsePort(fields[1])
        } catch {
            throw fail(error.message)
        }
        let target: HostPort
        do {
            target = try HostPort(host: hostText, port: port)
        } catch {
            throw fail(error.message)
        }
        guard target.kind == .name else {
            throw fail("HOST must be a name, not an address ('\(HostPort.clip(hostText))')")
        }
        self.target = target

        let list = fields[2]
        if list.allSatisfy({ $0 == " " || $0 == "\t" }) {
            throw fail("missing address after '\(HostPort.clip(hostText)):\(port):'")
        }
        var addresses: [HostPort] = []
        for item in list.split(separator: ",", omittingEmptySubsequences: false) {
            var a = item[...]
            while let f = a.first, f == " " || f == "\t" { a = a.dropFirst() }
            while let l = a.last, l == " " || l == "\t" { a = a.dropLast() }
            if a.isEmpty { throw fail("empty address in list") }
            let address: HostPort
            do {
                address = try HostPort(host: a, port: port)
            } catch {
                throw fail(error.message)
            }
            guard address.kind != .name else {
                throw fail("'\(HostPort.clip(a))' is not an IPv4 or IPv6 address")
            }
            addresses.append(address)
        }
        self.addresses = addresses
    }

    /// Builds an entry directly (addresses are given the target's port).
    public init(target: HostPort, addresses: [HostPort]) {
        self.target = target
        self.addresses = addresses.map { address in
            (try? HostPort(host: address.host, port: target.port)) ?? address
        }
    }

    /// `host:port:addr,addr` with IPv6 addresses bracketed.
    public var description: String {
        "\(target.host):\(target.port):" + addresses.map(\.hostForDisplay).joined(separator: ",")
    }
}
