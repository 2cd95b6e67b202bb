/// One complete handshake message as produced by `HandshakeReassembler`.
public struct HandshakeMessage: Sendable, Hashable {
    /// Bytes in the handshake header (1-byte type, 3-byte length).
    public static let headerSize = 4

    /// The handshake type code (see `HandshakeType`).
    public var type: UInt8
    /// The message body, without the 4-byte handshake header.
    public var body: [UInt8]

    public init(type: UInt8, body: [UInt8]) {
        self.type = type
        self.body = body
    }

    /// The known type, or nil for an unassigned code.
    public var handshakeType: HandshakeType? { HandshakeType(rawValue: type) }

    /// The type's name, e.g. `Certificate` or `Handshake(0x63)`.
    public var typeName: String { HandshakeType.name(for: type) }

    /// The message as it appears on the wire: header followed by body.
    public func encoded() -> [UInt8] {
        let n = body.count
        var out: [UInt8] = [type, UInt8(truncatingIfNeeded: n >> 16), UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
        out.append(contentsOf: body)
        return out
    }
}
