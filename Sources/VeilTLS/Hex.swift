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
}
