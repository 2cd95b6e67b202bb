import Testing
@testable import VeilHTTP2

/// Every way a block can be bad is a thrown HPACKError (the connection's COMPRESSION_ERROR),
/// never a trap and never unbounded memory.
@Suite("HPACK malformed blocks")
struct HPACKMalformedTests {
    private func decodeError(_ hex: String, decoder: HPACKDecoder = HPACKDecoder()) -> HPACKError? {
        var decoder = decoder
        do {
            _ = try decoder.decode(hexBytes(hex)[...])
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedInteger() {
        #expect(decodeError("ff") == .truncatedInteger)  // indexed, 7-bit prefix full, no continuation
        #expect(decodeError("ff80") == .truncatedInteger)  // continuation bit set on the last octet
        #expect(decodeError("7f") == .truncatedInteger)  // literal's name index
        #expect(decodeError("3f") == .truncatedInteger)  // size update
        #expect(decodeError("00ff") == .truncatedInteger)  // name string's length
    }

    @Test func oversizedInteger() {
        #expect(decodeError("ff ffffffff0f") == .integerOverflow)  // 127 + 2^35 - 1
        #expect(decodeError("ff 8080808080 01") == .integerOverflow)  // six continuation octets
        #expect(decodeError("00 7f ffffffff7f") == .integerOverflow)  // a string length
        // 2^31 - 1 itself is a valid integer (an index past the table here).
        #expect(decodeError("ff 80ffffff07") == .indexOutOfRange(Int(Int32.max)))
    }

    @Test func truncatedString() {
        #expect(decodeError("00") == .truncatedString)  // no name length
        #expect(decodeError("0003 6162") == .truncatedString)  // name 3 octets, 2 present
        #expect(decodeError("0001 61") == .truncatedString)  // no value
        #expect(decodeError("0001 6105 6162 6364") == .truncatedString)  // value 5 octets, 4 present
        #expect(decodeError("0001 61ff 7f") == .truncatedString)  // value length 254, nothing present
    }

    @Test func badHuffmanPadding() {
        // 'a' is 00011 (5 bits): padded with 000 instead of 111.
        #expect(decodeError("0001 61 81 18") == .invalidHuffmanPadding)
        // 'a' then a full octet of ones: 11 bits of padding.
        #expect(decodeError("0001 61 82 1fff") == .invalidHuffmanPadding)
        // A lone octet of ones: 8 bits of padding, no symbol.
        #expect(decodeError("0001 61 81 ff") == .invalidHuffmanPadding)
        // 'a' correctly padded (00011 111) decodes.
        #expect(decodeError("0001 61 81 1f") == nil)
    }

    @Test func huffmanEOS() {
        // EOS is 30 ones: 4 octets of ones hold it (plus 2 bits).
        #expect(decodeError("0001 61 84 ffffffff") == .huffmanEOS)
        // 'a' (00011) then EOS.
        #expect(decodeError("0001 61 85 1fffffffff") == .huffmanEOS)
    }

    @Test func indexZero() {
        #expect(decodeError("80") == .indexZero)
    }

    @Test func indexPastTheTables() {
        #expect(decodeError("be") == .indexOutOfRange(62))  // empty dynamic table
        #expect(decodeError("ff00") == .indexOutOfRange(127))
    }

    @Test func nameIndexPastTheTables() {
        #expect(decodeError("7f00 0161") == .indexOutOfRange(63))  // incremental indexing, name index 63
        #expect(decodeError("0f30 0161") == .indexOutOfRange(63))  // without indexing, name index 15 + 48
        // One entry added: 62 is valid, 63 is not.
        #expect(decodeError("4001 6101 62 be bf") == .indexOutOfRange(63))
    }

    @Test func tableSizeUpdateTooLarge() {
        #expect(decodeError("3fe21f") == .tableSizeUpdateTooLarge(4097))
        #expect(decodeError("3fe11f") == nil)  // 4096
        #expect(decodeError("3fe21f", decoder: HPACKDecoder(maxTableSize: 8192)) == nil)
        var decoder = HPACKDecoder()
        decoder.setMaxTableSize(100)
        #expect(decodeError("3f46", decoder: decoder) == .tableSizeUpdateTooLarge(101))
        #expect(decodeError("3f45", decoder: decoder) == nil)  // 100
    }

    @Test func tableSizeUpdateAfterAField() {
        #expect(decodeError("20 82") == nil)
        #expect(decodeError("82 20") == .tableSizeUpdateNotAtStart)
    }

    @Test func notText() {
        #expect(decodeError("0001 61 01 ff") == .invalidText)
    }

    @Test func headerListTooLarge() throws {
        var decoder = HPACKDecoder(maxHeaderListSize: 100)
        // 3 x ":method: GET" (7 + 3 + 32 = 42 each): 126 > 100.
        #expect(throws: HPACKError.headerListTooLarge) { try decoder.decode(hexBytes("828282")[...]) }
        // A 200-octet value, plain and Huffman, is refused before it is held whole.
        decoder = HPACKDecoder(maxHeaderListSize: 100)
        let plain = hexBytes("0001 61 7f 49") + [UInt8](repeating: 0x61, count: 200)
        #expect(throws: HPACKError.headerListTooLarge) { try decoder.decode(plain[...]) }
        var huffman: [UInt8] = []
        HPACKInteger.encode(125, prefixBits: 7, flags: 0x80, into: &huffman)  // 200 x 5 bits
        HPACKHuffman.encode([UInt8](repeating: 0x61, count: 200), into: &huffman)
        #expect(huffman.count == 126)
        let coded = hexBytes("0001 61") + huffman
        decoder = HPACKDecoder(maxHeaderListSize: 100)
        #expect(throws: HPACKError.headerListTooLarge) { try decoder.decode(coded[...]) }
        // Under the limit: fine.
        decoder = HPACKDecoder(maxHeaderListSize: 126)
        #expect(try decoder.decode(hexBytes("828282")[...]).count == 3)
    }

    /// A table size update to 0 empties the table; a later index into it fails.
    @Test func sizeUpdateEvicts() throws {
        var decoder = HPACKDecoder()
        _ = try decoder.decode(hexBytes("4001 6101 62")[...])
        #expect(decoder.dynamicTableSize == 34)
        #expect(try decoder.decode(hexBytes("20 3f e11f")[...]) == [])  // to 0, then to 4096
        #expect(decoder.dynamicTableEntries.isEmpty)
        #expect(decodeError("be", decoder: decoder) == .indexOutOfRange(62))
    }

    /// Eviction at the exact edge (section 4.4): a table filled to exactly its maximum keeps
    /// every entry; one more octet evicts the oldest; an entry larger than the table empties it.
    @Test func evictionAtTheEdge() throws {
        var decoder = HPACKDecoder(maxTableSize: 68)  // two entries of 1 + 1 + 32
        _ = try decoder.decode(hexBytes("4001 6101 62 4001 6301 64")[...])
        #expect(decoder.dynamicTableEntries == [h("c", "d"), h("a", "b")])
        #expect(decoder.dynamicTableSize == 68)
        _ = try decoder.decode(hexBytes("4001 6501 66")[...])
        #expect(decoder.dynamicTableEntries == [h("e", "f"), h("c", "d")])
        decoder = HPACKDecoder(maxTableSize: 34)
        _ = try decoder.decode(hexBytes("4001 6101 62")[...])
        #expect(decoder.dynamicTableEntries == [h("a", "b")])
        _ = try decoder.decode(hexBytes("4001 6102 6263")[...])  // 35 > 34: the table empties
        #expect(decoder.dynamicTableEntries.isEmpty && decoder.dynamicTableSize == 0)
    }

    /// Random octets never trap: each block either decodes or throws.
    @Test func randomBlocksNeverTrap() {
        var generator = SystemRandomNumberGenerator()
        var decoder = HPACKDecoder(maxTableSize: 256, maxHeaderListSize: 1024)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...48, using: &generator)
            let block = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            do { _ = try decoder.decode(block[...]) } catch { decoder = HPACKDecoder(maxTableSize: 256, maxHeaderListSize: 1024) }
            #expect(decoder.dynamicTableSize <= 256)
        }
    }
}
