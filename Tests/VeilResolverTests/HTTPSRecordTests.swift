import Testing
@testable import VeilResolver
import VeilTLS

/// HTTPS records (RFC 9460, type 65) in the DNS codec.
///
/// The two answers below were captured here from Debian 12's unbound 1.17.1 (127.0.0.1:25353,
/// `local-zone: "test." static`) with a UDP query built exactly as `DNSMessage.query` builds it:
///   local-data: "origin.test. 300 IN HTTPS 1 . alpn=h2 ech=<base64 of bssl-tool's list.bin>"
///   local-data: "multi.test. 600 IN HTTPS 1 svc.multi.test. mandatory=alpn,port alpn=h2,http/1.1
///                no-default-alpn port=8443 ipv4hint=192.0.2.1,192.0.2.2 ipv6hint=2001:db8::1 key65000=hello"
///   local-data: "multi.test. 600 IN HTTPS 2 . alpn=h3"
/// list.bin is ECHConfigListTests.bsslList's list (`bssl-tool generate-ech ... -public-name public.test -config-id 7`).
@Suite struct HTTPSRecordTests {
    static let originQuery = decodeHex("4ec101000001000000000001066f726967696e047465737400004100010000291000000000000000")
    static let originAnswer = decodeHex("""
        4ec185800001000100000001066f726967696e04746573740000410001c00c004100010000012c005200010000010003026832000500440042\
        fe0d003e070020002040ae3decf05155880bc2e994650587fe86381525766052047ccaeea6ca5fa00b00080001000100010003000b7075626c\
        69632e74657374000000002904d0000000000000
        """)
    static let multiAnswer = decodeHex("""
        4ec285800001000200000001056d756c746904746573740000410001c00c0041000100000258000a00020000010003026833c00c00410001\
        00000258005d000103737663056d756c746904746573740000000004000100030001000c02683208687474702f312e3100020000000300\
        0220fb00040008c0000201c00002020006001020010db8000000000000000000000001fde8000568656c6c6f00002904d0000000000000
        """)
    static let bsslList = decodeHex("""
        0042fe0d003e070020002040ae3decf05155880bc2e994650587fe86381525766052047ccaeea6ca5fa00b00080001000100010003000b\
        7075626c69632e746573740000
        """)

    @Test func queryForTypeSixtyFive() throws {
        #expect(try DNSMessage.query(id: 0x4ec1, name: "origin.test", type: .https) == Self.originQuery)
    }

    @Test func unboundsAnswerWithECH() throws {
        let response = try DNSMessage.parse(Self.originAnswer)
        #expect(response.rcode == 0 && response.httpsErrors.isEmpty)
        let answer = try DNSMessage.https(for: "origin.test.", in: response)
        #expect(answer.ttl == 300)
        #expect(answer.records.count == 1)
        let record = answer.records[0]
        #expect(record.priority == 1 && !record.isAliasMode)
        #expect(record.targetName == ".")
        #expect(record.params.keys == [1, 5])
        #expect(record.params.alpn == ["h2"])
        #expect(record.params.ech == Self.bsslList)
        let list = try #require(try record.params.echConfigList())
        let selection = try list.selection()
        #expect(selection.config.publicName == "public.test")
        #expect(selection.config.configID == 7)
    }

    @Test func unboundsAnswerWithEveryKey() throws {
        let response = try DNSMessage.parse(Self.multiAnswer)
        let answer = try DNSMessage.https(for: "MULTI.test", in: response)
        #expect(answer.ttl == 600)
        #expect(answer.records.map(\.priority) == [1, 2])
        let p = answer.records[0].params
        #expect(answer.records[0].targetName == "svc.multi.test")
        #expect(p.keys == [0, 1, 2, 3, 4, 6, 65000])
        #expect(p.mandatory == [1, 3])
        #expect(p.alpn == ["h2", "http/1.1"])
        #expect(p.noDefaultALPN)
        #expect(p.port == 8443)
        #expect(p.ipv4Hints == ["192.0.2.1", "192.0.2.2"])
        #expect(p.ipv6Hints == ["2001:db8::1"])
        #expect(p.ech == nil)
        #expect(try p.echConfigList() == nil)
        #expect(p.unknown == [SvcParams.Unknown(key: 65000, value: Array("hello".utf8))])
        #expect(SvcParams.name(65000) == "key65000")
        #expect(answer.records[1].params.alpn == ["h3"])
        #expect(try DNSMessage.https(for: "other.test", in: response).records.isEmpty)
    }

    /// One HTTPS record's data (after SvcPriority and TargetName "."), each malformed its own way.
    static let malformed: [(params: [UInt8], reason: String)] = [
        (param(5, [1]) + param(1, [2, 0x68, 0x32]), "SvcParam keys not in strictly increasing order (alpn after ech)"),
        (param(1, [2, 0x68, 0x32]) + param(1, [2, 0x68, 0x33]), "SvcParam keys not in strictly increasing order (alpn after alpn)"),
        (param(3, [1, 2, 3]), "port of 3 bytes"),
        (param(4, [1, 2, 3, 4, 5]), "ipv4hint of 5 bytes"),
        (param(6, [UInt8](repeating: 1, count: 15)), "ipv6hint of 15 bytes"),
        (param(1, [0]), "alpn id of 0 bytes (empty, or past the value's end)"),
        (param(1, [3, 0x68, 0x32]), "alpn id of 3 bytes (empty, or past the value's end)"),
        (param(1, []), "empty alpn"),
        (param(0, [0, 3]) + param(1, [2, 0x68, 0x32]), "mandatory SvcParam port missing"),
        (param(0, [0, 0]), "mandatory lists itself"),
        (param(0, [0, 3, 0, 1]) + param(1, [2, 0x68, 0x32]) + param(3, [1, 187]), "mandatory keys not strictly increasing"),
        (param(2, [1]), "no-default-alpn with a value of 1 bytes"),
        (param(2, []), "no-default-alpn without alpn"),
        (param(5, []), "empty ech"),
        ([0, 1, 0], "SvcParam header truncated"),
        ([0, 1, 0, 9, 2, 0x68, 0x32], "SvcParam alpn value of 9 bytes past the record's end"),
    ]

    static func param(_ key: UInt16, _ value: [UInt8]) -> [UInt8] {
        [UInt8(key >> 8), UInt8(key & 0xff), UInt8(value.count >> 8), UInt8(value.count & 0xff)] + value
    }

    @Test(arguments: 0..<malformed.count)
    func malformedRecordIsAnErrorForItsNameOnly(_ index: Int) throws {
        let (params, reason) = Self.malformed[index]
        let bytes = Self.response(answers: [
            ("bad.test", 65, [0, 1, 0] + params),
            ("ok.test", 65, [0, 1, 0] + Self.param(1, [2, 0x68, 0x32])),
            ("ok.test", 1, [127, 0, 0, 9]),
        ])
        let response = try DNSMessage.parse(bytes)
        #expect(throws: DNSMessage.HTTPSRecordError(name: "bad.test", reason: reason)) {
            try DNSMessage.https(for: "bad.test", in: response)
        }
        #expect(try DNSMessage.https(for: "ok.test", in: response).records.first?.params.alpn == ["h2"])
        #expect(DNSMessage.addresses(for: "ok.test", in: response.answers).addresses == ["127.0.0.9"])
    }

    @Test func malformedTargetNamesAndShortData() throws {
        let cases: [([UInt8], String)] = [
            ([0, 1], "record data of 2 bytes"),
            ([0, 1, 3, 0x61], "TargetName label past the record's end"),
            ([0, 1, 1, 0x61], "TargetName truncated"),
            ([0, 1, 0xc0, 12], "TargetName compressed or with a bad label type (RFC 9460 forbids compression)"),
        ]
        for (rdata, reason) in cases {
            let response = try DNSMessage.parse(Self.response(answers: [("bad.test", 65, rdata)]))
            #expect(throws: DNSMessage.HTTPSRecordError(name: "bad.test", reason: reason)) {
                try DNSMessage.https(for: "bad.test", in: response)
            }
        }
    }

    @Test func aliasModeIgnoresParamsAndSortsLast() throws {
        let response = try DNSMessage.parse(Self.response(answers: [
            ("a.test", 65, [0, 0, 3, 0x63, 0x64, 0x6e, 0] + [0xff]),  // AliasMode to "cdn", junk params ignored
            ("a.test", 65, [0, 7, 0] + Self.param(3, [0x01, 0xbb])),
        ]))
        let answer = try DNSMessage.https(for: "a.test", in: response)
        #expect(answer.records.map(\.priority) == [7, 0])
        #expect(answer.records[1].isAliasMode && answer.records[1].targetName == "cdn" && answer.records[1].params == SvcParams())
        #expect(answer.records[0].params.port == 443)
    }

    @Test func cnameChainsAreFollowedWithTheSmallestTTL() throws {
        var cname: [UInt8] = []
        try DNSMessage.appendName("real.test", to: &cname)
        let response = try DNSMessage.parse(Self.response(answers: [
            ("www.test", 5, cname),
            ("real.test", 65, [0, 1, 0] + Self.param(1, [2, 0x68, 0x32])),
        ], ttl: 120, cnameTTL: 30))
        let answer = try DNSMessage.https(for: "www.test", in: response)
        #expect(answer.chain == ["real.test"])
        #expect(answer.ttl == 30)
        #expect(answer.records.count == 1)
    }

    @Test func truncationsAndMutationsNeverTrap() throws {
        for capture in [Self.originAnswer, Self.multiAnswer] {
            for n in 0..<capture.count {
                if let r = try? DNSMessage.parse(Array(capture[..<n])) {
                    _ = try? DNSMessage.https(for: "origin.test", in: r)
                }
            }
            var state: UInt64 = 0x9e37_79b9_7f4a_7c15
            for _ in 0..<5_000 {
                var bytes = capture
                for _ in 0..<3 {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    bytes[Int(state >> 33) % bytes.count] = UInt8(truncatingIfNeeded: state >> 17)
                }
                if let r = try? DNSMessage.parse(bytes) {
                    for record in r.https { _ = try? record.params.echConfigList()?.selection() }
                    _ = try? DNSMessage.https(for: "multi.test", in: r)
                }
            }
        }
    }

    /// A response to an HTTPS question for the first answer's name, answers uncompressed.
    static func response(answers: [(name: String, type: UInt16, data: [UInt8])], ttl: UInt32 = 300, cnameTTL: UInt32 = 300) -> [UInt8] {
        var b: [UInt8] = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, UInt8(answers.count), 0, 0, 0, 0]
        try? DNSMessage.appendName(answers.first?.name ?? "x.test", to: &b)
        b += [0, 65, 0, 1]
        for a in answers {
            try? DNSMessage.appendName(a.name, to: &b)
            let t = a.type == 5 ? cnameTTL : ttl
            b += [UInt8(a.type >> 8), UInt8(a.type & 0xff), 0, 1, UInt8(t >> 24), UInt8(t >> 16 & 0xff), UInt8(t >> 8 & 0xff), UInt8(t & 0xff)]
            b += [UInt8(a.data.count >> 8), UInt8(a.data.count & 0xff)] + a.data
        }
        return b
    }
}

/// Hex test data to bytes (whitespace ignored); test data only.
func decodeHex(_ string: String) -> [UInt8] {
    let digits = Array(string.utf8.filter { $0 != 0x20 && $0 != 0x0a })
    var out: [UInt8] = []
    var i = 0
    while i + 1 < digits.count {
        out.append(UInt8(String(decoding: digits[i...i + 1], as: UTF8.self), radix: 16) ?? 0)
        i += 2
    }
    return out
}
