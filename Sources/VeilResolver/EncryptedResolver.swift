import VeilWire
import Dispatch
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Names resolved over DoH or DoT, servers tried in the configured order (the next one only
/// when a server cannot answer: an authoritative "no such name" ends the search). Answers are
/// cached (`DNSCache`); a cached answer comes back at once on the calling thread, anything else
/// is looked up on a background queue and delivered through `completion`. Never blocks a ring.
public final class EncryptedResolver: Resolver, Sendable {
    public let servers: [DNSServer]
    public let cache: DNSCache
    let context: TLSContext
    /// For `relay` servers: TLS 1.3, no chain verification (the certificate is pinned).
    let relayContext: TLSContext?
    let timeout: Double
    /// `--relay-mux on`: relay lookups go on the proxy's multiplexed relay connection.
    let relayCarrier: (any RelayQueryCarrier)?
    let queue = DispatchQueue(label: "veil.dns", attributes: .concurrent)

    public init(servers: [DNSServer], cache: DNSCache, extraTrustFile: String?, timeout: Double,
                relayCarrier: (any RelayQueryCarrier)? = nil) throws {
        precondition(!servers.isEmpty)
        self.servers = servers
        self.relayCarrier = relayCarrier
        self.cache = cache
        self.timeout = timeout
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = extraTrustFile
        options.captureSecrets = false
        options.minVersion = 0x0303
        context = try TLSContext.upstream(options)
        if servers.contains(where: { $0.kind == .relay }) {
            var r = TLSContext.UpstreamOptions()
            r.verify = false  // pinned by fingerprint once the handshake is done
            r.minVersion = 0x0304
            r.captureSecrets = false
            r.clientCertificate = servers.lazy.compactMap { $0.relay?.clientCertificate }.first
            relayContext = try TLSContext.upstream(r)
        } else {
            relayContext = nil
        }
    }

    public var name: String { servers.map(\.description).joined(separator: ",") }

    public func resolve(host: String, port: UInt16,
                        completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        if let cached = cachedOutcome(host: host, port: port) { return cached }
        let loop = EventLoop.currentIndex
        queue.async { completion(self.lookup(host: host, port: port, loopIndex: loop)) }
        return nil
    }

    /// The cached answer, if any (`source` ends in "(cache)").
    public func cachedOutcome(host: String, port: UInt16) -> ResolveOutcome? {
        guard let e = cache.lookup(host) else { return nil }
        if let failure = e.failure {
            return .failure(ResolveAdvice.noSuchName("\(failure) (cached answer of \(e.source))", host: host, port: port))
        }
        return EncryptedResolver.outcome(e.addresses, port: port, source: "\(e.source) (cache)")
    }

    /// Asks the servers in order (blocking; background queue only). `loopIndex`: the loop that
    /// asked (a relay carrier uses that worker's relay connection).
    public func lookup(host: String, port: UInt16, loopIndex: Int? = nil) -> ResolveOutcome {
        var problems: [String] = []
        for server in servers {
            if server.kind == .relay {
                if let done = askRelay(server, host: host, port: port, loopIndex: loopIndex, problems: &problems) { return done }
                continue
            }
            do {
                var addresses: [String] = []
                var ttl = UInt32.max
                var negativeTTL: UInt32?
                var chain: [String] = []
                for type in [DNSMessage.RecordType.a, .aaaa] {
                    let answer = try ask(server, host, type)
                    if answer.noSuchName {
                        let via = answer.chain.isEmpty ? "" : " via CNAME \(answer.chain.joined(separator: " -> "))"
                        let why = "cannot resolve \(host): no such name (NXDOMAIN from \(server)\(via))"
                        cache.storeNegative(host, failure: why, ttl: answer.negativeTTL, source: server.description)
                        return .failure(ResolveAdvice.noSuchName(why, host: host, port: port))
                    }
                    if !answer.addresses.isEmpty { ttl = min(ttl, answer.ttl) }
                    if chain.isEmpty { chain = answer.chain }
                    addresses += answer.addresses
                    if let n = answer.negativeTTL { negativeTTL = min(negativeTTL ?? n, n) }
                }
                let via = chain.isEmpty ? server.description : "\(server.description) via CNAME \(chain.joined(separator: " -> "))"
                guard !addresses.isEmpty else {
                    let why = "cannot resolve \(host): no A or AAAA records (\(via))"
                    cache.storeNegative(host, failure: why, ttl: negativeTTL, source: server.description)
                    return .failure(ResolveAdvice.noSuchName(why, host: host, port: port))
                }
                cache.store(host, addresses: addresses, ttl: ttl, source: via)
                return EncryptedResolver.outcome(addresses, port: port, source: via)
            } catch {
                problems.append("\(server): \(error)")
            }
        }
        return .failure(ResolveAdvice.serversFailed(host: host, port: port, kinds: servers.map(\.kind), problems: problems))
    }

    /// The relay's answer, cached; nil (with the problem noted) to try the next server.
    private func askRelay(_ server: DNSServer, host: String, port: UInt16, loopIndex: Int?,
                          problems: inout [String]) -> ResolveOutcome? {
        guard let relayContext else { return nil }
        do {
            // The HTTPS records come in the same round trip (Veil-Want: https) and are cached.
            switch try server.askRelay(host: host, port: port, https: true, context: relayContext, timeout: timeout,
                                       carrier: relayCarrier, loopIndex: loopIndex) {
            case .answer(let a):
                let source = keepRelayAddresses(a, server: server, host: host)
                keepRelayHTTPS(a, server: server, host: host, port: port)
                return EncryptedResolver.outcome(a.addresses, port: port, source: source)
            case let other:
                let refusal = EncryptedResolver.relayRefusal(other, server: server)
                if refusal.noSuchName {
                    let why = "cannot resolve \(host): \(refusal.why)"
                    cache.storeNegative(host, failure: why, ttl: nil, source: server.description)
                    return .failure(ResolveAdvice.noSuchName(why, host: host, port: port))
                }
                problems.append(refusal.why)
            }
        } catch {
            problems.append("\(server): \(error)")
        }
        return nil
    }

    /// The addresses of a relay's answer, cached; returns their source as outcomes name it.
    func keepRelayAddresses(_ a: RelayResolution.Answer, server: DNSServer, host: String) -> String {
        let source = a.source.isEmpty ? server.description : "\(server.description) [\(a.source)]"
        cache.store(host, addresses: a.addresses, ttl: a.ttl, source: source)
        return source
    }

    /// A relay's answer that is not one: why (naming the server; the relay's own advice names
    /// the relay's flags, not the ones to change here, so it is dropped), and whether it is the
    /// relay's "no such name" (final: no next server is asked).
    static func relayRefusal(_ result: RelayResolution.ParseResult, server: DNSServer) -> (why: String, noSuchName: Bool) {
        switch result {
        case .refused(let status, let reason):
            return ("\(server): \(status) \(ResolveAdvice.withoutAdvice(reason))",
                    status == 502 && (reason.contains("no such name") || reason.contains("no A or AAAA")))
        case .malformed(let why):
            return ("\(server): \(why)", false)
        case .needMore:
            return ("\(server): incomplete answer", false)
        case .answer:
            return ("\(server): answered", false)  // not a refusal; callers take answers first
        }
    }

    private struct Answer {
        var addresses: [String] = []
        var ttl = UInt32.max
        var chain: [String] = []
        var negativeTTL: UInt32?
        var noSuchName = false
    }

    /// One type for one name, following a CNAME chain the server left unfinished (a server may
    /// answer with the CNAME alone) by asking again for its target, at most 8 names in all.
    private func ask(_ server: DNSServer, _ name: String, _ type: DNSMessage.RecordType) throws -> Answer {
        var answer = Answer()
        var current = name
        for _ in 0..<8 {
            let id = UInt16.random(in: 0...UInt16.max)
            let query = try DNSMessage.query(id: id, name: current, type: type)
            let bytes = try server.exchange(query, context: context, timeout: timeout)
            let response: DNSMessage.Response
            do { response = try DNSMessage.parse(bytes) } catch {
                throw BlockingTLSConnection.Failure("answer is not a DNS message (\(error))")
            }
            guard response.id == id else {
                throw BlockingTLSConnection.Failure("answer for another query (id \(response.id), asked \(id))")
            }
            if let n = response.negativeTTL { answer.negativeTTL = min(answer.negativeTTL ?? n, n) }
            if response.rcode == 3 {
                answer.noSuchName = true
                return answer
            }
            guard response.rcode == 0 else {
                throw BlockingTLSConnection.Failure("server failure (DNS rcode \(response.rcode))")
            }
            let found = DNSMessage.addresses(for: current, in: response.answers)
            answer.chain += found.chain
            if !found.addresses.isEmpty || found.chain.isEmpty {
                answer.addresses = found.addresses
                if !found.addresses.isEmpty { answer.ttl = min(answer.ttl, found.ttl) }
                return answer
            }
            answer.ttl = min(answer.ttl, found.ttl)
            guard let next = found.chain.last else { return answer }
            current = next
        }
        throw BlockingTLSConnection.Failure("CNAME chain of \(name) longer than 8 names")
    }

    static func outcome(_ addresses: [String], port: UInt16, source: String) -> ResolveOutcome {
        let a = addresses.compactMap { SocketAddress(ip: $0, port: port) }
        return a.isEmpty ? .failure("no usable address in \(addresses)") : .success(ResolvedAddresses(addresses: a, source: source))
    }
}
