/// Fixed-width lowercase hexadecimal formatting for names of unknown code points.
enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `0xNN`.
    static func byte(_ value: UInt8) -> String {
        String(decoding: [UInt8(ascii: "0"), UInt8(ascii: "x"),
                          digits[Int(value >> 4)], digits[Int(value & 0xf)]], as: UTF8.self)
    }

    /// `0xNNNN`.
    static func word(_ value: UInt16) -> String {
        let v = Int(value)
        return String(decoding: [UInt8(ascii: "0"), UInt8(ascii: "x"),
                                 digits[(v >> 12) & 0xf], digits[(v >> 8) & 0xf],
                                 digits[(v >> 4) & 0xf], digits[v & 0xf]], as: UTF8.self)
    }

    /// Parses lowercase or uppercase hex digits; nil for odd length or other characters.
    static func decode(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var i = 0
        while i < digits.count {
            guard let hi = value(digits[i]), let lo = value(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
