// THROWAWAY: literal-only stand-in with the API of branch hpack21's HPACK, for the machine's
// tests until that lands; deleted at the merge. Encodes "literal without indexing, new name",
// no Huffman; decodes only that form.
public struct HPACKHeader: Equatable, Sendable {
    public var name: String
    public var value: String
    public init(name: String, value: String) { self.name = name; self.value = value }
}

public enum HPACKError: Error, Equatable, Sendable { case unsupported, truncated }

public struct HPACKEncoder: Sendable {
    public init() {}
    public mutating func encode(_ headers: [HPACKHeader], into out: inout [UInt8]) {
        for h in headers {
            out.append(0)
            Self.string(h.name, into: &out)
            Self.string(h.value, into: &out)
        }
    }
    static func string(_ s: String, into out: inout [UInt8]) {
        let bytes = Array(s.utf8)
        var n = bytes.count
        if n < 127 { out.append(UInt8(n)) } else {
            out.append(127); n -= 127
            while n >= 128 { out.append(UInt8(n & 127) | 128); n >>= 7 }
            out.append(UInt8(n))
        }
        out += bytes
    }
}

public struct HPACKDecoder: Sendable {
    public init(maxTableSize: Int = 4096, maxHeaderListSize: Int = 65536) {}
    public mutating func setMaxTableSize(_ size: Int) {}
    public mutating func decode(_ block: ArraySlice<UInt8>) throws(HPACKError) -> [HPACKHeader] {
        var i = block.startIndex
        func string() throws(HPACKError) -> String {
            guard i < block.endIndex, block[i] & 0x80 == 0 else { throw .unsupported }
            var n = Int(block[i] & 127); i += 1
            if n == 127 {
                var shift = 0
                repeat {
                    guard i < block.endIndex, shift < 28 else { throw .truncated }
                    n += Int(block[i] & 127) << shift; shift += 7; i += 1
                } while block[i - 1] & 128 != 0
            }
            guard block.endIndex - i >= n else { throw .truncated }
            defer { i += n }
            return String(decoding: block[i..<(i + n)], as: UTF8.self)
        }
        var out: [HPACKHeader] = []
        while i < block.endIndex {
            guard block[i] == 0 else { throw .unsupported }
            i += 1
            let name = try string()
            out.append(HPACKHeader(name: name, value: try string()))
        }
        return out
    }
}
