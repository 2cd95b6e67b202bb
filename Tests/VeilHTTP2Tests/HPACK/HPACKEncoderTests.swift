import Testing
@testable import VeilHTTP2

@Suite("HPACK encoder")
struct HPACKEncoderTests {
    private func encode(_ headers: [HPACKHeader]) -> [UInt8] {
        var encoder = HPACKEncoder()
        var out: [UInt8] = []
        encoder.encode(headers, into: &out)
        return out
    }

    @Test func staticFullMatchIsIndexed() {
        #expect(hexString(encode([h(":method", "GET"), h(":scheme", "https"), h(":status", "200")])) == "828788")
        // A later entry of a name that appears more than once (":status: 404" is 13).
        #expect(hexString(encode([h(":status", "404")])) == "8d")
    }

    @Test func staticNameIsAnIndexedNameLiteralWithoutIndexing() {
        // :method (2) CONNECT: 0x02, then "CONNECT" plain (upper-case letters take 7 bits each
        // in Huffman: 7 octets, not shorter).
        #expect(hexString(encode([h(":method", "CONNECT")])) == "0207434f4e4e454354")
        // :authority (1) example.com:443.
        #expect(encode([h(":authority", "example.com:443")]).first == 0x01)
    }

    @Test func newNameLiteral() {
        // custom-key is not in the static table: 0x00, name, value (both Huffman: shorter).
        #expect(hexString(encode([h("custom-key", "custom-value")])) == "00" + "88" + "25a849e95ba97d7f" + "89" + "25a849e95bb8e8b4bf")
    }

    @Test func credentialsAreNeverIndexed() {
        let wire = encode([h("proxy-authorization", "Bearer s3cret")])
        #expect(wire.first == 0x1F && wire[1] == 49 - 15)  // never indexed, name index 49 (4-bit prefix + 34)
    }

    @Test func plainWhenHuffmanIsNotShorter() {
        // '\u{7f}' is a 28-bit code: Huffman would be 4 octets for 1.
        #expect(hexString(encode([h("x-a", "\u{7f}")])).hasSuffix("017f"))
    }

    @Test func roundTrip() throws {
        let lists: [[HPACKHeader]] = [
            [h(":method", "CONNECT"), h(":authority", "origin.test:443"), h("proxy-authorization", "Bearer abc")],
            [h(":status", "200")],
            [h(":status", "407"), h("proxy-authenticate", "Bearer realm=\"veil\"")],
            [h("x-empty", ""), h("", ""), h("x-utf8", "héllo 日本 \u{1F600}"), h("x-all", String(decoding: Array(0x20...0x7e), as: UTF8.self))],
            [h("x-long", String(repeating: "abcdefghij", count: 500))],
        ]
        var decoder = HPACKDecoder()
        for list in lists {
            #expect(try decoder.decode(encode(list)[...]) == list)
        }
        #expect(decoder.dynamicTableEntries.isEmpty)
    }

    @Test func everyOctetThroughHuffman() throws {
        let all = (0...255).map { UInt8($0) }
        var coded: [UInt8] = []
        HPACKHuffman.encode(all, into: &coded)
        #expect(coded.count == HPACKHuffman.encodedLength(all))
        var decoded: [UInt8] = []
        try HPACKHuffman.decode(coded[...], limit: 256, into: &decoded)
        #expect(decoded == all)
    }

    @Test func codeTreeIsComplete() {
        // 257 leaves need 256 inner nodes; every child slot is filled.
        #expect(HPACKHuffman.tree.count == 512)
        #expect(!HPACKHuffman.tree.contains(0))
        #expect(Set(HPACKHuffman.tree.filter { $0 < 0 }).count == 257)
    }
}
