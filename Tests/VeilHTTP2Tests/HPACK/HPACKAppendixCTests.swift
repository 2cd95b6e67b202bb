import Testing
@testable import VeilHTTP2

/// Every example of RFC 7541 Appendix C: the integers (C.1), the single representations (C.2),
/// and the three requests and three responses with and without Huffman (C.3-C.6), each decoded
/// by one decoder in order, with the dynamic table (newest first) and its size after each block.
@Suite("HPACK RFC 7541 Appendix C")
struct HPACKAppendixCTests {
    @Test func c1Integers() throws {
        // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at an octet boundary.
        for (value, prefix, wire) in [(10, 5, "0a"), (1337, 5, "1f9a0a"), (42, 8, "2a")] {
            var out: [UInt8] = []
            HPACKInteger.encode(value, prefixBits: prefix, flags: 0, into: &out)
            #expect(hexString(out) == wire)
            var position = 0
            #expect(try HPACKInteger.decode(hexBytes(wire)[...], at: &position, prefixBits: prefix) == value)
            #expect(position == out.count)
        }
    }

    @Test func c2_1LiteralWithIndexing() throws {
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572")[...])
            == [h("custom-key", "custom-header")])
        #expect(decoder.dynamicTableEntries == [h("custom-key", "custom-header")])
        #expect(decoder.dynamicTableSize == 55)
    }

    @Test func c2_2LiteralWithoutIndexing() throws {
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("040c 2f73 616d 706c 652f 7061 7468")[...]) == [h(":path", "/sample/path")])
        #expect(decoder.dynamicTableEntries.isEmpty)
    }

    @Test func c2_3LiteralNeverIndexed() throws {
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("1008 7061 7373 776f 7264 0673 6563 7265 74")[...]) == [h("password", "secret")])
        #expect(decoder.dynamicTableEntries.isEmpty)
    }

    @Test func c2_4Indexed() throws {
        var decoder = HPACKDecoder()
        #expect(try decoder.decode(hexBytes("82")[...]) == [h(":method", "GET")])
        #expect(decoder.dynamicTableEntries.isEmpty)
    }

    static let requests: [(headers: [HPACKHeader], table: [HPACKHeader], size: Int)] = [
        ([h(":method", "GET"), h(":scheme", "http"), h(":path", "/"), h(":authority", "www.example.com")],
         [h(":authority", "www.example.com")], 57),
        ([h(":method", "GET"), h(":scheme", "http"), h(":path", "/"), h(":authority", "www.example.com"),
          h("cache-control", "no-cache")],
         [h("cache-control", "no-cache"), h(":authority", "www.example.com")], 110),
        ([h(":method", "GET"), h(":scheme", "https"), h(":path", "/index.html"), h(":authority", "www.example.com"),
          h("custom-key", "custom-value")],
         [h("custom-key", "custom-value"), h("cache-control", "no-cache"), h(":authority", "www.example.com")], 164),
    ]

    static let responses: [(headers: [HPACKHeader], table: [HPACKHeader], size: Int)] = {
        let date1 = "Mon, 21 Oct 2013 20:13:21 GMT", date2 = "Mon, 21 Oct 2013 20:13:22 GMT"
        let location = "https://www.example.com"
        let cookie = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"
        return [
            ([h(":status", "302"), h("cache-control", "private"), h("date", date1), h("location", location)],
             [h("location", location), h("date", date1), h("cache-control", "private"), h(":status", "302")], 222),
            ([h(":status", "307"), h("cache-control", "private"), h("date", date1), h("location", location)],
             [h(":status", "307"), h("location", location), h("date", date1), h("cache-control", "private")], 222),
            ([h(":status", "200"), h("cache-control", "private"), h("date", date2), h("location", location),
              h("content-encoding", "gzip"), h("set-cookie", cookie)],
             [h("set-cookie", cookie), h("content-encoding", "gzip"), h("date", date2)], 215),
        ]
    }()

    static let c3 = [
        "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "8286 84be 5808 6e6f 2d63 6163 6865",
        "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
    ]
    static let c4 = [
        "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
        "8286 84be 5886 a8eb 1064 9cbf",
        "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
    ]
    static let c5 = [
        "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
        "4803 3330 37c1 c0bf",
        "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e 3d31",
    ]
    static let c6 = [
        "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
        "4883 640e ffc1 c0bf",
        "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
    ]

    @Test(arguments: [("C.3 requests", c3, 4096), ("C.4 requests, Huffman", c4, 4096),
                      ("C.5 responses", c5, 256), ("C.6 responses, Huffman", c6, 256)])
    func sequence(_ example: (String, [String], Int)) throws {
        let (label, blocks, tableSize) = example
        let expected = tableSize == 4096 ? Self.requests : Self.responses
        var decoder = HPACKDecoder(maxTableSize: tableSize)
        for (i, block) in blocks.enumerated() {
            #expect(try decoder.decode(hexBytes(block)[...]) == expected[i].headers, "\(label) block \(i + 1)")
            #expect(decoder.dynamicTableEntries == expected[i].table, "\(label) table after block \(i + 1)")
            #expect(decoder.dynamicTableSize == expected[i].size, "\(label) table size after block \(i + 1)")
        }
    }

    /// C.4's Huffman strings, encoded by Veil, are the octets of the RFC.
    @Test func huffmanEncodingMatchesC4AndC6() {
        for (text, wire) in [("www.example.com", "f1e3c2e5f23a6ba0ab90f4ff"), ("no-cache", "a8eb10649cbf"),
                             ("custom-key", "25a849e95ba97d7f"), ("custom-value", "25a849e95bb8e8b4bf"),
                             ("private", "aec3771a4b"), ("Mon, 21 Oct 2013 20:13:21 GMT", "d07abe941054d444a8200595040b8166e082a62d1bff"),
                             ("https://www.example.com", "9d29ad171863c78f0b97c8e9ae82ae43d3")] {
            var out: [UInt8] = []
            HPACKHuffman.encode(text.utf8, into: &out)
            #expect(hexString(out) == wire, "\(text)")
            #expect(HPACKHuffman.encodedLength(text.utf8) == out.count)
        }
    }
}
