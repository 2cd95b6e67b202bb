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

    /// Standard base64 with padding (RFC 4648 section 4); nil on any other byte, or beyond 4096 characters.
    public static func base64Decode(_ text: [UInt8]) -> [UInt8]? {
        guard text.count <= 4096 else { return nil }
        return Base64.decode(text)
    }
}
