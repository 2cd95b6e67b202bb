/// Serialising the parts of a hello message (RFC 8446 section 4.1.2, 3.4 vectors): what ECH
/// needs to write a ClientHelloOuter and an EncodedClientHelloInner from a parsed ClientHello.
enum HelloEncoding {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    /// opaque x<0..2^8-1>; the caller keeps `bytes` under 256.
    static func vector8(_ bytes: [UInt8]) -> [UInt8] { [UInt8(truncatingIfNeeded: bytes.count)] + bytes }
    /// opaque x<0..2^16-1>; the caller keeps `bytes` under 65536.
    static func vector16(_ bytes: [UInt8]) -> [UInt8] { u16(bytes.count) + bytes }

    /// One extension: type, 2-byte length, data.
    static func `extension`(_ type: UInt16, _ data: [UInt8]) -> [UInt8] { u16(type) + vector16(data) }

    /// A server_name extension with one host_name (RFC 6066 section 3).
    static func serverName(_ name: String) -> [UInt8] {
        `extension`(TLSExtension.serverName, vector16([0] + vector16(Array(name.utf8))))
    }

    /// A ClientHello body (without the handshake header) from its fields; `extensions` are
    /// whole encoded extensions in order.
    static func clientHelloBody(legacyVersion: UInt16, random: [UInt8], sessionID: [UInt8], cipherSuites: [UInt16],
                                compressionMethods: [UInt8], extensions: [[UInt8]]) -> [UInt8] {
        var body = u16(legacyVersion) + random + vector8(sessionID)
        body += vector16(cipherSuites.flatMap { u16($0) })
        body += vector8(compressionMethods)
        body += vector16(extensions.flatMap { $0 })
        return body
    }

    /// A handshake message: type, 3-byte length, body.
    static func handshake(type: UInt8, body: [UInt8]) -> [UInt8] {
        HandshakeMessage(type: type, body: body).encoded()
    }

    /// Plaintext records of `type` carrying `payload`, at most 2^14 bytes each (RFC 8446 5.1).
    static func records(_ type: TLSContentType, _ payload: [UInt8], version: UInt16 = 0x0301) -> [UInt8] {
        var out: [UInt8] = []
        var start = 0
        repeat {
            let end = min(payload.count, start + 16384)
            out += [type.rawValue] + u16(version) + u16(end - start) + payload[start..<end]
            start = end
        } while start < payload.count
        return out
    }
}
