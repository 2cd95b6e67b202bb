import Testing
@testable import VeilResolver
import VeilWire

/// A response built by hand: header, the question, then answer records (names compressed to
/// point at the question where `compress` is set) and an optional SOA in authority.
private func response(id: UInt16 = 0x1234, rcode: UInt8 = 0, question: String, answers: [(name: String?, type: UInt16, ttl: UInt32, data: [UInt8])],
                      soaMinimum: UInt32? = nil) throws -> [UInt8] {
    var b: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x81, 0x80 | rcode, 0, 1, 0, UInt8(answers.count), 0, soaMinimum == nil ? 0 : 1, 0, 0]
    try DNSMessage.appendName(question, to: &b)
    b += [0, 1, 0, 1]
    for a in answers {
        if let n = a.name { try DNSMessage.appendName(n, to: &b) } else { b += [0xc0, 12] }
        b += [UInt8(a.type >> 8), UInt8(a.type & 0xff), 0, 1]
        b += [UInt8(a.ttl >> 24), UInt8(a.ttl >> 16 & 0xff), UInt8(a.ttl >> 8 & 0xff), UInt8(a.ttl & 0xff)]
        b += [UInt8(a.data.count >> 8), UInt8(a.data.count & 0xff)] + a.data
    }
    if let m = soaMinimum {
        b += [0xc0, 12, 0, 6, 0, 1, 0, 0, 0x0e, 0x10]
        var rdata: [UInt8] = []
        try DNSMessage.appendName("ns.test", to: &rdata)
        try DNSMessage.appendName("host.test", to: &rdata)
        for v in [UInt32(1), 2, 3, 4, m] { rdata += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        b += [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xff)] + rdata
    }
    return b
}

@Suite("DNSMessage")
struct DNSMessageTests {
    @Test func queryWireFormat() throws {
        let q = try DNSMessage.query(id: 0xbeef, name: "a.example.", type: .aaaa)
        #expect(Array(q[0..<12]) == [0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1])
        #expect(Array(q[12..<23]) == [1, 0x61, 7] + Array("example".utf8) + [0])
        #expect(Array(q[23..<27]) == [0, 28, 0, 1])
        #expect(q.count == 27 + 11)  // plus the EDNS0 OPT record
    }

    @Test func badNamesAreRefused() {
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.query(id: 1, name: "", type: .a) }
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.query(id: 1, name: "a..b", type: .a) }
        #expect(throws: DNSMessage.ParseError.self) {
            try DNSMessage.query(id: 1, name: String(repeating: "x", count: 64) + ".test", type: .a)
        }
    }

    @Test func addressesAndCNAMEChain() throws {
        let bytes = try response(question: "www.example.test", answers: [
            (nil, 5, 300, { var t: [UInt8] = []; try! DNSMessage.appendName("edge.cdn.test", to: &t); return t }()),
            ("edge.cdn.test", 1, 60, [192, 0, 2, 7]),
            ("edge.cdn.test", 28, 90, [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]),
        ])
        let r = try DNSMessage.parse(bytes)
        #expect(r.id == 0x1234)
        #expect(r.rcode == 0)
        #expect(r.answers.count == 3)
        let found = DNSMessage.addresses(for: "WWW.example.test.", in: r.answers)
        #expect(found.addresses == ["192.0.2.7", "2001:db8::1"])
        #expect(found.chain == ["edge.cdn.test"])
        #expect(found.ttl == 60)
    }

    @Test func cnameWithoutAddressesLeavesTheChainToFollow() throws {
        let target: [UInt8] = { var t: [UInt8] = []; try! DNSMessage.appendName("origin.test", to: &t); return t }()
        let r = try DNSMessage.parse(try response(question: "alias.test", answers: [(nil, 5, 120, target)]))
        let found = DNSMessage.addresses(for: "alias.test", in: r.answers)
        #expect(found.addresses.isEmpty)
        #expect(found.chain == ["origin.test"])
    }

    @Test func nxdomainCarriesTheNegativeTTL() throws {
        let r = try DNSMessage.parse(try response(rcode: 3, question: "nope.test", answers: [], soaMinimum: 45))
        #expect(r.rcode == 3)
        #expect(r.negativeTTL == 45)
    }

    @Test func truncatedAndMalformedResponsesAreErrors() throws {
        let good = try response(question: "a.test", answers: [(nil, 1, 60, [127, 0, 0, 1])])
        for n in 0..<good.count {
            #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.parse(Array(good[0..<n])) }
        }
        var query = good
        query[2] = 0x01  // QR clear: a query, not a response
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.parse(query) }
        var badA = try response(question: "a.test", answers: [(nil, 1, 60, [127, 0, 0])])
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.parse(badA) }
        badA = good
        badA[good.count - 16] = 0xc0  // answer name: a pointer ...
        badA[good.count - 15] = 0xff  // ... forwards, past itself
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.parse(badA) }
    }

    @Test func pointerLoopsAreRefused() throws {
        var b: [UInt8] = [0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0]
        b += [0xc0, 12, 0, 1, 0, 1]  // the question's name points at itself
        #expect(throws: DNSMessage.ParseError.self) { try DNSMessage.parse(b) }
    }

    @Test func randomMutationsNeverCrash() throws {
        let good = try response(question: "www.example.test", answers: [
            (nil, 1, 60, [192, 0, 2, 7]), (nil, 28, 60, [UInt8](repeating: 1, count: 16)),
        ], soaMinimum: 30)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            var m = good
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                m[Int.random(in: 0..<m.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? DNSMessage.parse(m)
        }
    }
}

@Suite("DNSCache")
struct DNSCacheTests {
    @Test func ttlIsClampedAndExpires() {
        let c = DNSCache(minTTL: 60, maxTTL: 600, negativeTTL: 30)
        #expect(c.store("a.test", addresses: ["192.0.2.1"], ttl: 5, source: "x", now: 0) == 60)
        #expect(c.store("b.test", addresses: ["192.0.2.2"], ttl: 86_400, source: "x", now: 0) == 600)
        #expect(c.lookup("A.TEST.", now: 59_000_000_000)?.addresses == ["192.0.2.1"])
        #expect(c.lookup("a.test", now: 60_000_000_000) == nil)
        #expect(c.lookup("b.test", now: 599_000_000_000) != nil)
    }

    @Test func negativeAnswersAreCachedBriefly() {
        let c = DNSCache(minTTL: 60, maxTTL: 600, negativeTTL: 30)
        c.storeNegative("nope.test", failure: "no such name", ttl: 3600, source: "x", now: 0)
        #expect(c.lookup("nope.test", now: 29_000_000_000)?.failure == "no such name")
        #expect(c.lookup("nope.test", now: 30_000_000_000) == nil)
        let off = DNSCache(negativeTTL: 0)
        off.storeNegative("nope.test", failure: "no", ttl: nil, source: "x", now: 0)
        #expect(off.lookup("nope.test", now: 0) == nil)
    }

    @Test func boundedCapacity() {
        let c = DNSCache(capacity: 3)
        for i in 0..<10 { c.store("n\(i).test", addresses: ["192.0.2.1"], ttl: UInt32(100 + i), source: "x", now: 0) }
        #expect(c.count == 3)
        #expect(c.lookup("n9.test", now: 0) != nil)
    }
}

@Suite("DNSServer")
struct DNSServerTests {
    @Test func dohURLs() throws {
        let s = try DNSServer(dohURL: "https://127.0.0.1:8443/q", staticMap: StaticResolver(entries: []))
        #expect(s.address.description == "127.0.0.1:8443")
        #expect(s.verifyName == "127.0.0.1")
        #expect(s.path == "/q")
        let d = try DNSServer(dohURL: "https://[::1]", staticMap: StaticResolver(entries: []))
        #expect(d.address.description == "[::1]:443")
        #expect(d.path == "/dns-query")
    }

    @Test func aNamedResolverMustBeInTheStaticMap() throws {
        #expect(throws: DNSServer.ParseError.self) {
            try DNSServer(dohURL: "https://dns.example/dns-query", staticMap: StaticResolver(entries: []))
        }
        let map = StaticResolver(entries: [try StaticResolveEntry(parsing: "dns.example:443:192.0.2.53")])
        let s = try DNSServer(dohURL: "https://dns.example/dns-query", staticMap: map)
        #expect(s.address.description == "192.0.2.53:443")
        #expect(s.verifyName == "dns.example")
        #expect(throws: DNSServer.ParseError.self) { try DNSServer(dohURL: "http://127.0.0.1/", staticMap: map) }
    }

    @Test func dotServers() throws {
        let s = try DNSServer(dotServer: "192.0.2.53#dns.example", staticMap: StaticResolver(entries: []))
        #expect(s.address.description == "192.0.2.53:853")
        #expect(s.verifyName == "dns.example")
        #expect(throws: DNSServer.ParseError.self) { try DNSServer(dotServer: "192.0.2.53:0", staticMap: StaticResolver(entries: [])) }
    }
}
