/// A bounds-checked cursor over a byte array. Sub-readers for length-prefixed vectors share the
/// array and keep absolute offsets, so ranges they return index the original array.
struct ByteReader {
    let bytes: [UInt8]
    /// Absolute offset of the next unread byte.
    private(set) var position: Int
    /// Absolute offset one past the last byte this reader may read.
    let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        position = 0
        end = bytes.count
    }

    private init(bytes: [UInt8], position: Int, end: Int) {
        self.bytes = bytes
        self.position = position
        self.end = end
    }

    var remaining: Int { end - position }
    var isAtEnd: Bool { position >= end }

    mutating func readUInt8(_ what: StaticString) throws(TLSParseError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated("\(what)") }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func readUInt16(_ what: StaticString) throws(TLSParseError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated("\(what)") }
        defer { position += 2 }
        return UInt16(bytes[position]) << 8 | UInt16(bytes[position + 1])
    }

    /// The absolute range of the next `count` bytes, consuming them.
    mutating func readRange(_ count: Int, _ what: StaticString) throws(TLSParseError) -> Range<Int> {
        guard count >= 0, remaining >= count else { throw .truncated("\(what)") }
        defer { position += count }
        return position..<position + count
    }

    mutating func readBytes(_ count: Int, _ what: StaticString) throws(TLSParseError) -> [UInt8] {
        Array(bytes[try readRange(count, what)])
    }

    /// Consumes a vector with a 1- or 2-byte length prefix and returns a reader confined to it.
    mutating func readVector(lengthBytes: Int, _ what: StaticString) throws(TLSParseError) -> ByteReader {
        let length = lengthBytes == 1 ? Int(try readUInt8(what)) : Int(try readUInt16(what))
        guard remaining >= length else {
            throw .malformed("\(what): length \(length) exceeds the \(remaining) bytes of its container")
        }
        defer { position += length }
        return ByteReader(bytes: bytes, position: position, end: position + length)
    }

    /// Everything left, consuming it.
    mutating func readRest() -> [UInt8] {
        defer { position = end }
        return Array(bytes[position..<end])
    }

    /// A list of 16-bit values filling this reader: non-empty and an even byte count.
    mutating func readUInt16List(_ what: StaticString) throws(TLSParseError) -> [UInt16] {
        guard remaining >= 2, remaining % 2 == 0 else {
            throw .malformed("\(what): bad list length \(remaining)")
        }
        var values: [UInt16] = []
        values.reserveCapacity(remaining / 2)
        while !isAtEnd { values.append(try readUInt16(what)) }
        return values
    }

    /// Throws unless every byte was consumed.
    func expectEnd(_ what: StaticString) throws(TLSParseError) {
        guard isAtEnd else { throw .malformed("\(what): \(remaining) trailing bytes") }
    }
}

extension ByteReader {
    /// A reader over `range` of `bytes`; the range must lie within `bytes` (caller-validated).
    static func confined(_ bytes: [UInt8], to range: Range<Int>) -> ByteReader {
        ByteReader(bytes: bytes, position: range.lowerBound, end: range.upperBound)
    }
}
