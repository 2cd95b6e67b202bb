/// `Proxy-Authorization: Basic <base64(user:password)>` (RFC 7617), decoded.
public struct BasicCredentials: Sendable, Equatable {
    public let user: String
    public let password: [UInt8]

    /// The credentials in a header value, or nil when it is not Basic or not well formed.
    public init?(header value: String) {
        let v = value.trimmingWhitespace()
        guard v.utf8.count > 6, v.prefix(6).lowercased() == "basic " else { return nil }
        guard let decoded = BasicCredentials.base64Decode(Array(String(v.dropFirst(6)).trimmingWhitespace().utf8)),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let userBytes = decoded[..<colon]
        guard !userBytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) else { return nil }
        user = String(decoding: userBytes, as: UTF8.self)
        password = Array(decoded[(colon + 1)...])
    }

    /// Standard base64 with padding (RFC 4648 section 4); nil on any other byte.
    public static func base64Decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count % 4 == 0, text.count <= 4096 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count / 4 * 3)
        var i = 0
        while i < text.count {
            var quad: UInt32 = 0
            var pad = 0
            for j in 0..<4 {
                let c = text[i + j]
                let v: UInt32
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): v = 62
                case UInt8(ascii: "/"): v = 63
                case UInt8(ascii: "="):
                    // Padding only at the end, at most two.
                    guard i + 4 == text.count, j >= 2 else { return nil }
                    pad += 1
                    v = 0
                default: return nil
                }
                if pad > 0 && c != UInt8(ascii: "=") { return nil }
                quad = quad << 6 | v
            }
            out.append(UInt8(quad >> 16 & 0xff))
            if pad < 2 { out.append(UInt8(quad >> 8 & 0xff)) }
            if pad < 1 { out.append(UInt8(quad & 0xff)) }
            i += 4
        }
        return out
    }
}
