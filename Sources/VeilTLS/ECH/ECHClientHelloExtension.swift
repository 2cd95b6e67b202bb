/// The "encrypted_client_hello" extension of a ClientHello (RFC 9849 section 5): the outer
/// variant (cipher suite, config id, enc, payload) or the inner one (no fields).
public enum ECHClientHelloExtension: Sendable, Equatable {
    case outer(kdf: UInt16, aead: UInt16, configID: UInt8, enc: [UInt8], payload: [UInt8])
    case inner

    /// ECHClientHelloType.
    static let outerType: UInt8 = 0
    static let innerType: UInt8 = 1

    /// The extension data.
    public var encoded: [UInt8] {
        switch self {
        case .inner:
            return [Self.innerType]
        case .outer(let kdf, let aead, let configID, let enc, let payload):
            return [Self.outerType] + HelloEncoding.u16(kdf) + HelloEncoding.u16(aead) + [configID]
                + HelloEncoding.vector16(enc) + HelloEncoding.vector16(payload)
        }
    }

    /// Parses extension data; a payload must not be empty (payload<1..2^16-1>).
    public init(data: [UInt8]) throws(TLSParseError) {
        var reader = ByteReader(data)
        switch try reader.readUInt8("ECHClientHello type") {
        case Self.innerType:
            try reader.expectEnd("ECHClientHello inner")
            self = .inner
        case Self.outerType:
            let kdf = try reader.readUInt16("ECHClientHello kdf_id")
            let aead = try reader.readUInt16("ECHClientHello aead_id")
            let configID = try reader.readUInt8("ECHClientHello config_id")
            var enc = try reader.readVector(lengthBytes: 2, "ECHClientHello enc")
            var payload = try reader.readVector(lengthBytes: 2, "ECHClientHello payload")
            try reader.expectEnd("ECHClientHello outer")
            guard !payload.isAtEnd else { throw .malformed("ECHClientHello: empty payload") }
            self = .outer(kdf: kdf, aead: aead, configID: configID, enc: enc.readRest(), payload: payload.readRest())
        case let other:
            throw .malformed("ECHClientHello: unknown type \(other)")
        }
    }
}
