/// Encodes header lists (RFC 7541) without a dynamic table: a field that is in the static table
/// name and value is sent indexed (6.1); every other field is a literal without indexing (6.2.2),
/// or never indexed (6.2.3) for credentials, with a static-table name index when the name is
/// there, each string Huffman-coded when that is shorter. With no dynamic table, the encoder
/// holds no state the peer's decoder must mirror, so SETTINGS_HEADER_TABLE_SIZE never matters
/// and no size update is ever needed; CONNECT requests are a handful of fields, where indexing
/// would gain a few octets per stream.
public struct HPACKEncoder: Sendable {
    public init() {}

    public mutating func encode(_ headers: [HPACKHeader], into out: inout [UInt8]) {
        for header in headers {
            let (fullMatch, nameMatch) = Self.staticLookup(header)
            if let index = fullMatch {
                HPACKInteger.encode(index, prefixBits: 7, flags: 0x80, into: &out)
                continue
            }
            let flags: UInt8 = Self.neverIndexed.contains(header.name) ? 0x10 : 0x00
            HPACKInteger.encode(nameMatch ?? 0, prefixBits: 4, flags: flags, into: &out)
            if nameMatch == nil { Self.appendString(header.name, into: &out) }
            Self.appendString(header.value, into: &out)
        }
    }

    /// Fields whose values intermediaries must never index (RFC 7541 section 7.1.3).
    static let neverIndexed: Set<String> = ["authorization", "proxy-authorization"]

    /// The first static index of each name (entries with one name are adjacent in Appendix A).
    static let firstStaticIndex: [String: Int] = {
        var first: [String: Int] = [:]
        for (offset, entry) in HPACKTables.staticTable.enumerated() where first[entry.name] == nil {
            first[entry.name] = offset + 1
        }
        return first
    }()

    /// The static index of name and value, and of the name alone.
    static func staticLookup(_ header: HPACKHeader) -> (full: Int?, name: Int?) {
        guard let first = firstStaticIndex[header.name] else { return (nil, nil) }
        let statics = HPACKTables.staticTable
        var index = first
        while index <= statics.count, statics[index - 1].name == header.name {
            if statics[index - 1].value == header.value { return (index, first) }
            index += 1
        }
        return (nil, first)
    }

    static func appendString(_ text: String, into out: inout [UInt8]) {
        let utf8 = text.utf8
        let huffmanLength = HPACKHuffman.encodedLength(utf8)
        if huffmanLength < utf8.count {
            HPACKInteger.encode(huffmanLength, prefixBits: 7, flags: 0x80, into: &out)
            HPACKHuffman.encode(utf8, into: &out)
        } else {
            HPACKInteger.encode(utf8.count, prefixBits: 7, flags: 0x00, into: &out)
            out.append(contentsOf: utf8)
        }
    }
}
