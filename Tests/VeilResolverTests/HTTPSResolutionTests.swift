import Testing
@testable import VeilResolver
import VeilTLS
import VeilWire
import VeilRuntime

/// HTTPS records at the resolver level: one server's answers turned into a name's outcome
/// (`HTTPSWalk`, what DoH and DoT run per response), the cache, the ECH config a name gets
/// (`ResolverChain.echConfig`: --ech-config wins) and the relay's RESOLVE carrying them.
@Suite struct HTTPSResolutionTests {
    typealias R = HTTPSRecordTests

    @Test func unboundsAnswerGivesTheNamesECHConfig() throws {
        var walk = HTTPSWalk(name: "origin.test", server: "doh https://127.0.0.1/dns-query")
        let outcome = try #require(try walk.take(R.originAnswer, id: 0x4ec1))
        guard case .records(let records, let ttl, let source) = outcome else { Issue.record("\(outcome)"); return }
        #expect(records.count == 1 && ttl == 300 && source == "doh https://127.0.0.1/dns-query")
        let lookup = ECHLookup(outcome, host: "origin.test")
        guard case .dns(let list, let record, _) = lookup else { Issue.record("\(lookup)"); return }
        #expect(record.params.alpn == ["h2"])
        #expect(try list.selection().config.publicName == "public.test")
        #expect(try list.selection().config.configID == 7)
    }

    @Test func aServersProblemIsThrownTheNamesIsAnswered() throws {
        var walk = HTTPSWalk(name: "origin.test", server: "dot 127.0.0.1:853")
        #expect(throws: BlockingTLSConnection.Failure.self) { try walk.take(R.originAnswer, id: 1) }  // another id
        #expect(throws: BlockingTLSConnection.Failure.self) { try walk.take([1, 2, 3], id: 0x4ec1) }
        var servfail = R.originAnswer
        servfail[3] = servfail[3] & 0xf0 | 2
        #expect(throws: BlockingTLSConnection.Failure.self) { try walk.take(servfail, id: 0x4ec1) }
        var nx = R.originAnswer
        nx[3] = nx[3] & 0xf0 | 3
        #expect(try walk.take(nx, id: 0x4ec1) == .failure("cannot look up HTTPS records of origin.test: no such name (NXDOMAIN from dot 127.0.0.1:853)"))
    }

    /// A malformed record (here: an empty `ech`, as unbound serves `\# 7 0001 00 0005 0000`) is
    /// an error naming the name and the server, and the ECH lookup fails with it.
    @Test func aMalformedRecordIsThatNamesError() throws {
        let bytes = R.response(answers: [("bad.test", 65, [0, 1, 0] + R.param(5, []))])
        var walk = HTTPSWalk(name: "bad.test", server: "dot 127.0.0.1:853")
        let outcome = try walk.take(Array(bytes), id: 0x1234)
        #expect(outcome == .failure("malformed HTTPS record for bad.test: empty ech (from dot 127.0.0.1:853)"))
        #expect(ECHLookup(try #require(outcome), host: "bad.test") == .failure("malformed HTTPS record for bad.test: empty ech (from dot 127.0.0.1:853)"))
    }

    @Test func anECHValueThatIsNoConfigListFailsNamingTheHost() throws {
        let bytes = R.response(answers: [("garbage.test", 65, [0, 1, 0] + R.param(5, [0, 1, 2, 3, 4, 5]))])
        var walk = HTTPSWalk(name: "garbage.test", server: "doh x")
        let outcome = try #require(try walk.take(Array(bytes), id: 0x1234))
        guard case .failure(let why) = ECHLookup(outcome, host: "garbage.test") else { Issue.record("not a failure"); return }
        #expect(why.hasPrefix("HTTPS record for garbage.test from doh x: malformed ECHConfigList"))
    }

    @Test func noRecordOrNoECHIsNone() throws {
        var walk = HTTPSWalk(name: "plain.test", server: "doh x")
        let none = try #require(try walk.take(R.response(answers: [("plain.test", 1, [127, 0, 0, 1])]), id: 0x1234))
        #expect(none == .records([], ttl: UInt32.max, source: "doh x"))
        #expect(ECHLookup(none, host: "plain.test") == .none("no HTTPS record (doh x)"))
        var w2 = HTTPSWalk(name: "h2.test", server: "doh x")
        let noECH = try #require(try w2.take(R.response(answers: [("h2.test", 65, [0, 1, 0] + R.param(1, [2, 0x68, 0x32]))]), id: 0x1234))
        #expect(ECHLookup(noECH, host: "h2.test") == .none("HTTPS record without ech (doh x)"))
    }

    /// A server that answers with the CNAME alone: the walk asks again for its target.
    @Test func aCNAMEAloneIsFollowedByAnotherQuestion() throws {
        var cname: [UInt8] = []
        try DNSMessage.appendName("real.test", to: &cname)
        var walk = HTTPSWalk(name: "www.test", server: "doh x")
        #expect(try walk.take(R.response(answers: [("www.test", 5, cname)], cnameTTL: 30), id: 0x1234) == nil)
        #expect(walk.current == "real.test")
        let done = try walk.take(R.response(answers: [("real.test", 65, [0, 1, 0] + R.param(3, [0x20, 0xfb]))], ttl: 600), id: 0x1234)
        guard case .records(let records, let ttl, let source)? = done else { Issue.record("\(String(describing: done))"); return }
        #expect(records.first?.params.port == 8443 && ttl == 30 && source == "doh x via CNAME real.test")
    }

    @Test func mutatedAnswersNeverTrap() {
        var state: UInt64 = 0x2545_f491_4f6c_dd1d
        for _ in 0..<5_000 {
            var bytes = R.originAnswer
            for _ in 0..<3 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes[Int(state >> 33) % bytes.count] = UInt8(truncatingIfNeeded: state >> 17)
            }
            var walk = HTTPSWalk(name: "origin.test", server: "doh x")
            if let outcome = try? walk.take(bytes, id: UInt16(bytes[0]) << 8 | UInt16(bytes[1])) {
                _ = ECHLookup(outcome, host: "origin.test").list.map { try? $0.selection() }
            }
        }
    }

    @Test func theCacheKeepsRecordsForTheirTTLAndNoneForTheNegativeTTL() throws {
        let cache = DNSCache(minTTL: 60, maxTTL: 3600, negativeTTL: 30)
        let record = try HTTPSRecord.parse(name: "a.test", ttl: 10, rdata: [0, 1, 0][...])
        #expect(cache.storeHTTPS("A.test.", records: [record], ttl: 10, source: "doh x", now: 0) == 60)
        #expect(cache.cachedHTTPS("a.test", now: 59_000_000_000) == .records([record], ttl: 1, source: "doh x (cache)"))
        #expect(cache.cachedHTTPS("a.test", now: 60_000_000_000) == nil)
        #expect(cache.storeHTTPS("b.test", records: [], ttl: UInt32.max, source: "doh x", now: 0) == 30)
        #expect(cache.cachedHTTPS("b.test", now: 1_000_000_000) == .records([], ttl: 29, source: "doh x (cache)"))
        #expect(cache.lookup("a.test", now: 0) == nil)  // addresses are a separate entry
        cache.storeHTTPSFailure("c.test", failure: "relay cannot ask", source: "relay 192.0.2.8:8443", now: 0)
        #expect(cache.cachedHTTPS("c.test", now: 29_000_000_000) == .failure("relay cannot ask (cached answer of relay 192.0.2.8:8443)"))
        #expect(cache.cachedHTTPS("c.test", now: 30_000_000_000) == nil)
        let off = DNSCache(negativeTTL: 0)
        #expect(off.storeHTTPS("b.test", records: [], ttl: 300, source: "doh x", now: 0) == 0)
        #expect(off.cachedHTTPS("b.test", now: 0) == nil)
    }

    @Test func anExplicitConfigWinsAndTheStaticMapAloneHasNone() throws {
        let list = try ECHConfigList.parse(R.bsslList)
        let chain = ResolverChain(staticMap: StaticResolver(entries: []), fallback: nil, explicitECH: ["origin.test": list])
        #expect(chain.echConfig(for: "ORIGIN.test.") { _ in Issue.record("answered later") } == .explicit(list))
        #expect(chain.echConfig(for: "other.test") { _ in Issue.record("answered later") }
                == .none("no resolver asks for HTTPS records (--resolver static: --resolve entries only)"))
        let system = ResolverChain(staticMap: StaticResolver(entries: []), fallback: SystemResolver())
        guard case .none(let why)? = system.echConfig(for: "x.test", completion: { _ in }) else { Issue.record("not none"); return }
        #expect(why.contains("cannot ask for HTTPS records"))
        // A relay's reasons come back prefixed; they are still "no config", not an error.
        #expect(ECHLookup(.failure("cannot look up HTTPS records of x.test: relay 192.0.2.8:8443: no resolver asks for HTTPS records (--resolver static: --resolve entries only)"), host: "x.test").list == nil)
        #expect(HTTPSOutcome.isUnavailable("relay 192.0.2.8:8443: this relay does not answer HTTPS queries (it is older than this Veil)"))
        #expect(!HTTPSOutcome.isUnavailable("malformed HTTPS record for x.test: empty ech"))
        guard case .none = ECHLookup(.failure("relay 192.0.2.8:8443: no resolver asks for HTTPS records (--resolver static)"), host: "x.test") else {
            Issue.record("not none"); return
        }
    }

    /// The cache answers a second time at once, as `veil resolve` shows with "(cache)".
    @Test func anEncryptedResolverAnswersFromItsCache() throws {
        let cache = DNSCache()
        let record = try HTTPSRecord.parse(name: "o.test", ttl: 300, rdata: [0, 1, 0][...])
        cache.storeHTTPS("o.test", records: [record], ttl: 300, source: "dot 127.0.0.1:1")
        let server = try DNSServer(dotServer: "127.0.0.1:1", staticMap: StaticResolver(entries: []))
        let r = try EncryptedResolver(servers: [server], cache: cache, extraTrustFile: nil, timeout: 1)
        guard case .records(let got, _, let source)? = r.resolveHTTPS(host: "o.test", port: 443, completion: { _ in }) else {
            Issue.record("not from the cache"); return
        }
        #expect(got == [record] && source == "dot 127.0.0.1:1 (cache)")
    }

    /// RFC 9460 section 2.3: port 443 asks the host, any other port `_PORT._https.HOST`; the
    /// cache is keyed by that name, so one host's answers for two ports never mix, and a
    /// rejected config is forgotten for its port only.
    @Test func aPortOtherThan443IsAskedAndCachedUnderItsPortPrefix() throws {
        #expect(HTTPSQueryName.of(host: "origin.test", port: 443) == "origin.test")
        #expect(HTTPSQueryName.of(host: "origin.test", port: 8443) == "_8443._https.origin.test")
        let query = try DNSMessage.query(id: 1, name: HTTPSQueryName.of(host: "origin.test", port: 8443), type: .https)
        #expect(Array(query[12..<(12 + 26)]) == [5] + Array("_8443".utf8) + [6] + Array("_https".utf8)
                + [6] + Array("origin".utf8) + [4] + Array("test".utf8) + [0])
        #expect(Array(query[38..<40]) == [0, 65])
        let cache = DNSCache()
        let record = try HTTPSRecord.parse(name: "_8443._https.o.test", ttl: 300, rdata: [0, 1, 0][...])
        cache.storeHTTPS("_8443._https.o.test", records: [record], ttl: 300, source: "dot 127.0.0.1:1")
        let server = try DNSServer(dotServer: "127.0.0.1:1", staticMap: StaticResolver(entries: []))
        let r = try EncryptedResolver(servers: [server], cache: cache, extraTrustFile: nil, timeout: 1)
        guard case .records(let got, _, _)? = r.resolveHTTPS(host: "o.test", port: 8443, completion: { _ in }) else {
            Issue.record("port 8443 not from the cache"); return
        }
        #expect(got == [record])
        #expect(cache.cachedHTTPS("o.test") == nil)  // port 443's entry is another one
        let chain = ResolverChain(staticMap: StaticResolver(entries: []), fallback: r)
        chain.forgetECHConfig(for: "o.test", port: 443)
        #expect(cache.cachedHTTPS("_8443._https.o.test") != nil)
        chain.forgetECHConfig(for: "o.test", port: 8443)
        #expect(cache.cachedHTTPS("_8443._https.o.test") == nil)
    }

    /// The relay's part of an answer, read on the client: records parsed as from DNS (a bad one
    /// is that name's error), the relay's reason, or an older relay's silence.
    @Test func theRelaysHTTPSPartOnTheClient() throws {
        let fingerprint = try #require(RelayFingerprint(parsing: String(repeating: "ab", count: 32)))
        let endpoint = RelayEndpoint(address: try #require(SocketAddress(ip: "127.0.0.1", port: 1)), fingerprint: fingerprint, secret: "s")
        let server = DNSServer(relay: endpoint)
        let r = try EncryptedResolver(servers: [server], cache: DNSCache(), extraTrustFile: nil, timeout: 1)
        let good = R.bsslList
        let rdata: [UInt8] = [0, 1, 0] + R.param(5, good)
        let answer = RelayResolution.Answer(addresses: ["127.0.0.1"], ttl: 30, source: "doh",
                                            https: .records([rdata], ttl: 300, source: "doh https://192.0.2.53/dns-query"))
        guard case .records(let records, 300, "relay 127.0.0.1:1 [doh https://192.0.2.53/dns-query]") = r.relayHTTPS(answer, server: server, host: "o.test") else {
            Issue.record("\(r.relayHTTPS(answer, server: server, host: "o.test"))"); return
        }
        #expect(records.first?.params.ech == good)
        let bad = RelayResolution.Answer(addresses: ["127.0.0.1"], ttl: 30, source: "doh", https: .records([[0, 1, 0, 0, 5, 0, 0]], ttl: 300))
        #expect(r.relayHTTPS(bad, server: server, host: "o.test") == .failure("malformed HTTPS record for o.test: empty ech (from relay 127.0.0.1:1)"))
        let old = RelayResolution.Answer(addresses: ["127.0.0.1"], ttl: 30, source: "doh")
        guard case .failure(let why) = r.relayHTTPS(old, server: server, host: "o.test") else { Issue.record("not a failure"); return }
        #expect(HTTPSOutcome.isUnavailable(why))
        // Garbage RDATA of every length never traps.
        var state: UInt64 = 99
        for n in 0..<200 {
            let bytes = (0..<(n % 40)).map { _ -> UInt8 in state = state &* 6364136223846793005 &+ 1; return UInt8(truncatingIfNeeded: state >> 40) }
            _ = r.relayHTTPS(.init(addresses: ["127.0.0.1"], ttl: 1, source: "", https: .records([bytes], ttl: 1)), server: server, host: "o.test")
        }
    }
}
