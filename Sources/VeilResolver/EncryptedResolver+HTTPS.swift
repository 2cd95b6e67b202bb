import VeilWire
import VeilRuntime

/// HTTPS records (RFC 9460, type 65) through the same servers, in the same order, with the same
/// cache rules as addresses: DoH and DoT ask for type 65; the relay is asked `RESOLVE` with
/// `Veil-Want: https`. A record that does not parse is that name's error, never the next
/// server's turn; a server that cannot answer is. A port other than 443 is asked (and cached)
/// as `_PORT._https.HOST` (`HTTPSQueryName`); the relay is given host and port and does the same.
extension EncryptedResolver {
    public func resolveHTTPS(host: String, port: UInt16,
                             completion: @escaping @Sendable (HTTPSOutcome) -> Void) -> HTTPSOutcome? {
        if let cached = cache.cachedHTTPS(HTTPSQueryName.of(host: host, port: port)) { return cached }
        let loop = EventLoop.currentIndex
        queue.async { completion(self.lookupHTTPS(host: host, port: port, loopIndex: loop)) }
        return nil
    }

    /// Asks the servers in order (blocking; background queue only; `loopIndex` as for `lookup`).
    public func lookupHTTPS(host: String, port: UInt16 = 443, loopIndex: Int? = nil) -> HTTPSOutcome {
        var problems: [String] = []
        let qname = HTTPSQueryName.of(host: host, port: port)
        for server in servers {
            do {
                let outcome = server.kind == .relay
                    ? try askRelayHTTPS(server, host: host, port: port, loopIndex: loopIndex, problems: &problems)
                    : try followingAlias(server, try askHTTPS(server, qname))
                guard let outcome else { continue }
                if case .records(let records, let ttl, let source) = outcome {
                    cache.storeHTTPS(qname, records: records, ttl: ttl, source: source)
                }
                return outcome
            } catch {
                problems.append("\(server): \(error)")
            }
        }
        return .failure("cannot look up HTTPS records of \(qname): " + problems.joined(separator: "; "))
    }

    /// Type 65 for `name` from a DoH or DoT server, following a CNAME chain the server left
    /// unfinished (at most 8 names).
    private func askHTTPS(_ server: DNSServer, _ name: String) throws -> HTTPSOutcome {
        var walk = HTTPSWalk(name: name, server: server.description)
        for _ in 0..<8 {
            let id = UInt16.random(in: 0...UInt16.max)
            let query = try DNSMessage.query(id: id, name: walk.current, type: .https)
            let bytes = try server.exchange(query, context: context, timeout: timeout)
            if let done = try walk.take(bytes, id: id) { return done }
        }
        throw BlockingTLSConnection.Failure("CNAME chain of \(name) longer than 8 names")
    }

    /// An AliasMode record (priority 0, RFC 9460 section 2.4.2) is followed once: its
    /// TargetName's HTTPS records, asked as they are (no port prefix), stand for the name's
    /// (ServiceMode records beside an alias are ignored, as the RFC says; an alias to another
    /// alias, or to ".", the service's "not available", leaves no ServiceMode record).
    private func followingAlias(_ server: DNSServer, _ outcome: HTTPSOutcome) throws -> HTTPSOutcome {
        guard case .records(let records, let ttl, let source) = outcome,
              let alias = records.first(where: \.isAliasMode) else { return outcome }
        guard alias.targetName != "." else { return .records([alias], ttl: ttl, source: source) }
        switch try askHTTPS(server, alias.targetName) {
        case .records(let target, let targetTTL, let targetSource):
            let via = targetSource == server.description ? "" : " (\(targetSource))"
            return .records(target.filter { !$0.isAliasMode }, ttl: min(ttl, targetTTL),
                            source: "\(source) via alias \(alias.targetName)\(via)")
        case .failure(let why):
            return .failure("\(why) (AliasMode target of \(alias.name))")
        }
    }

    /// The relay's answer; nil (with the problem noted) to try the next server. The addresses
    /// that come with it are cached too.
    private func askRelayHTTPS(_ server: DNSServer, host: String, port: UInt16, loopIndex: Int?,
                               problems: inout [String]) throws -> HTTPSOutcome? {
        guard let relayContext else { return nil }
        switch try server.askRelay(host: host, port: port, https: true, context: relayContext, timeout: timeout,
                                   carrier: relayCarrier, loopIndex: loopIndex) {
        case .answer(let a):
            _ = keepRelayAddresses(a, server: server, host: host)
            let qname = HTTPSQueryName.of(host: host, port: port)
            switch relayHTTPS(a, server: server, host: qname) {
            case .failure(let why) where !why.contains("malformed HTTPS record"):
                // A relay that cannot ask keeps saying so: remembered like "none" (when no
                // server follows), so that every connection does not ask it again.
                if HTTPSOutcome.isUnavailable(why), servers.last?.description == server.description {
                    cache.storeHTTPSFailure(qname, failure: "cannot look up HTTPS records of \(qname): \(why)",
                                            source: server.description)
                }
                problems.append(why)
                return nil
            case let outcome:
                return outcome
            }
        case let other:
            let refusal = EncryptedResolver.relayRefusal(other, server: server)
            if refusal.noSuchName { return .failure("cannot look up HTTPS records of \(host): \(refusal.why)") }
            problems.append(refusal.why)
            return nil
        }
    }

    /// The HTTPS part of a relay's answer as an outcome: its records (parsed here, as if from
    /// DNS), or why there are none (the relay's resolver cannot ask; an older relay says nothing).
    func relayHTTPS(_ a: RelayResolution.Answer, server: DNSServer, host: String) -> HTTPSOutcome {
        switch a.https {
        case nil:
            return .failure("\(server): this relay does not answer HTTPS queries (it is older than this Veil)")
        case .failure(let why)?:
            return .failure("\(server): \(why)")
        case .records(let rdatas, let ttl, let httpsSource)?:
            var records: [HTTPSRecord] = []
            for rdata in rdatas {
                do { records.append(try HTTPSRecord.parse(name: host, ttl: ttl, rdata: rdata[...])) } catch {
                    return .failure("\(DNSMessage.HTTPSRecordError(name: host, reason: error.description)) (from \(server))")
                }
            }
            records.sort { ($0.isAliasMode ? 1 : 0, $0.priority) < ($1.isAliasMode ? 1 : 0, $1.priority) }
            let from = httpsSource.isEmpty ? server.description : "\(server.description) [\(httpsSource)]"
            return .records(records, ttl: ttl, source: from)
        }
    }

    /// An address lookup through the relay asked for the HTTPS records too (one round trip):
    /// records are cached; that the relay cannot give them is cached when no server follows it.
    func keepRelayHTTPS(_ a: RelayResolution.Answer, server: DNSServer, host: String, port: UInt16) {
        let qname = HTTPSQueryName.of(host: host, port: port)
        switch relayHTTPS(a, server: server, host: qname) {
        case .records(let records, let ttl, let source):
            cache.storeHTTPS(qname, records: records, ttl: ttl, source: source)
        case .failure(let why):
            if HTTPSOutcome.isUnavailable(why), servers.last?.description == server.description {
                cache.storeHTTPSFailure(qname, failure: "cannot look up HTTPS records of \(qname): \(why)", source: server.description)
            }
        }
    }
}
