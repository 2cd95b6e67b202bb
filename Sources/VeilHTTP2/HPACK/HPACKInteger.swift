/// Prefixed integers (RFC 7541 section 5.1).
enum HPACKInteger {
    /// The largest value Veil accepts: far above any length or index a sane block holds, and
    /// small enough that no arithmetic on it overflows.
    static let maximum = Int(Int32.max)

    /// Appends `value` (>= 0) with an N-bit prefix; `flags` holds the bits above the prefix.
    static func encode(_ value: Int, prefixBits: Int, flags: UInt8, into out: inout [UInt8]) {
        let limit = (1 << prefixBits) - 1
        if value < limit {
            out.append(flags | UInt8(truncatingIfNeeded: value))
            return
        }
        out.append(flags | UInt8(truncatingIfNeeded: limit))
        var rest = value - limit
        while rest >= 128 {
            out.append(UInt8(truncatingIfNeeded: rest & 0x7F) | 0x80)
            rest >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: rest))
    }

    /// Reads an integer with an N-bit prefix starting at `position` (whose octet's upper bits are
    /// the caller's) and moves `position` past it.
    static func decode(_ block: ArraySlice<UInt8>, at position: inout Int, prefixBits: Int) throws(HPACKError) -> Int {
        guard position < block.endIndex else { throw .truncatedInteger }
        let limit = (1 << prefixBits) - 1
        var value = Int(block[position]) & limit
        position += 1
        if value < limit { return value }
        var shift = 0
        while true {
            guard position < block.endIndex else { throw .truncatedInteger }
            let octet = block[position]
            position += 1
            // 2^31 - 1 needs at most 5 continuation octets (shifts 0...28).
            guard shift <= 28 else { throw .integerOverflow }
            value += Int(octet & 0x7F) << shift
            guard value <= maximum else { throw .integerOverflow }
            if octet & 0x80 == 0 { return value }
            shift += 7
        }
    }
}
