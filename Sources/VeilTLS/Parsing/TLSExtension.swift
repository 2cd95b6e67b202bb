/// One extension of a ClientHello or ServerHello.
public struct TLSExtension: Sendable, Hashable {
    public static let serverName: UInt16 = 0
    public static let supportedGroups: UInt16 = 10
    public static let signatureAlgorithms: UInt16 = 13
    public static let applicationLayerProtocolNegotiation: UInt16 = 16
    public static let preSharedKey: UInt16 = 41
    public static let earlyData: UInt16 = 42
    public static let supportedVersions: UInt16 = 43
    public static let keyShare: UInt16 = 51
    public static let encryptedClientHello: UInt16 = 0xfe0d

    /// The extension type code.
    public var type: UInt16
    /// The extension data (without the 4-byte type/length prefix).
    public var data: [UInt8]
    /// Where `data` lies in the hello message body (offsets exclude the 4-byte handshake header).
    public var bodyRange: Range<Int>

    public init(type: UInt16, data: [UInt8], bodyRange: Range<Int>) {
        self.type = type
        self.data = data
        self.bodyRange = bodyRange
    }

    /// Parses a hello's extensions block (after its 2-byte length) from `reader`, rejecting duplicates.
    static func parseList(_ reader: inout ByteReader, _ what: StaticString) throws(TLSParseError) -> [TLSExtension] {
        var extensions: [TLSExtension] = []
        var seen = Set<UInt16>()
        while !reader.isAtEnd {
            let type = try reader.readUInt16(what)
            let length = Int(try reader.readUInt16(what))
            guard reader.remaining >= length else {
                throw .malformed("\(what): extension \(Hex.word(type)) length \(length) exceeds the \(reader.remaining) bytes of its container")
            }
            guard seen.insert(type).inserted else {
                throw .malformed("\(what): duplicate extension \(Hex.word(type))")
            }
            let range = try reader.readRange(length, what)
            extensions.append(TLSExtension(type: type, data: Array(reader.bytes[range]), bodyRange: range))
        }
        return extensions
    }
}
