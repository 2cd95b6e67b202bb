/// One name's HTTPS lookup at one DoH/DoT server, response by response (pure: bytes in, the
/// outcome or the next name to ask out). A response that is not DNS, or answers another query,
/// or a server failure is the server's problem (thrown: the next server is asked); a record
/// that does not parse, or NXDOMAIN, is the name's answer.
struct HTTPSWalk {
    let name: String
    let server: String
    /// The name to ask next (the last CNAME target so far).
    private(set) var current: String
    private var chain: [String] = []
    private var ttl = UInt32.max

    init(name: String, server: String) {
        self.name = name
        self.server = server
        current = name
    }

    /// The outcome, or nil to ask again for `current` (a CNAME the server did not follow).
    mutating func take(_ bytes: [UInt8], id: UInt16) throws(BlockingTLSConnection.Failure) -> HTTPSOutcome? {
        let response: DNSMessage.Response
        do { response = try DNSMessage.parse(bytes) } catch {
            throw BlockingTLSConnection.Failure("answer is not a DNS message (\(error))")
        }
        guard response.id == id else {
            throw BlockingTLSConnection.Failure("answer for another query (id \(response.id), asked \(id))")
        }
        if response.rcode == 3 {
            return .failure("cannot look up HTTPS records of \(name): no such name (NXDOMAIN from \(server))")
        }
        guard response.rcode == 0 else {
            throw BlockingTLSConnection.Failure("server failure (DNS rcode \(response.rcode))")
        }
        let answer: DNSMessage.HTTPSAnswer
        do { answer = try DNSMessage.https(for: current, in: response) } catch {
            return .failure("\(error) (from \(server))")
        }
        chain += answer.chain
        if !answer.chain.isEmpty { ttl = min(ttl, answer.ttl) }
        if answer.records.isEmpty && !answer.chain.isEmpty, let next = chain.last {
            current = next
            return nil
        }
        let via = chain.isEmpty ? server : "\(server) via CNAME \(chain.joined(separator: " -> "))"
        if answer.records.isEmpty {
            // No record: kept as "none" for the zone's negative TTL (the cache caps it).
            return .records([], ttl: min(ttl, response.negativeTTL ?? UInt32.max), source: via)
        }
        return .records(answer.records, ttl: min(ttl, answer.ttl), source: via)
    }
}
