/// ECH's lines in an NSS key log (SSLKEYLOGFILE, RFC 9850 section 2.3, formerly
/// draft-ietf-tls-keylogfile): `ECH_SECRET` is HPKE's KEM shared_secret (RFC 9180 section
/// 5.1.1) and `ECH_CONFIG` the ECHConfig the extension was made with, in hex, both keyed by the
/// random of the ClientHelloOuter (the format says these two always use the outer random;
/// OpenSSL's TLS 1.3 secrets of an ECH connection carry the inner one, which is right when the
/// server accepts ECH). A tool that reads them can open the EncodedClientHelloInner, learn the
/// inner random and then use the handshake secrets.
extension ECHClientHelloBuilder {
    /// The two lines once the first ClientHelloOuter is made (nil before, and after the first
    /// call); the secret is zeroed either way, so call it whether or not a key log is wanted.
    public func takeKeyLogLines() -> [String]? {
        guard !outerRandom.isEmpty, !kemSharedSecret.isEmpty else { return nil }
        defer { kemSharedSecret.zeroize(); kemSharedSecret = [] }
        let random = Self.hex(outerRandom)
        return ["ECH_SECRET " + random + " " + Self.hex(kemSharedSecret), "ECH_CONFIG " + random + " " + Self.hex(config.bytes)]
    }

    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xf)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
