/// A GREASE "encrypted_client_hello" extension (RFC 9849 section 6.2.1), for a connection
/// with ECH enabled and no config for its host: outer type, a random config_id, a real suite
/// (HKDF-SHA256 with AES-128-GCM, the mandatory one), a fresh X25519 public key as enc, and a
/// random payload as long as a real one would be for this ClientHello (section 6.1.3 padding
/// with maximum_name_length 0, plus the AEAD tag). The server cannot decrypt it and ignores
/// it; the second ClientHello after a HelloRetryRequest repeats it (OpenSSL's custom extension
/// sends the same bytes). Set it with `TLSEngine.offerECHGrease`.
public enum ECHGrease {
    /// The length of the EncodedClientHelloInner OpenSSL's TLS 1.3-only ClientHello (Veil's
    /// groups, suites and signature algorithms, the inner marker, no ALPN, no server_name)
    /// would have, before padding: 175 bytes, measured with the end-to-end test (210 bytes
    /// for origin.test with ALPN http/1.1, less 20 for the server_name and 15 for the ALPN).
    public static let unpaddedInnerBase = 175

    /// The extension data for a ClientHello to `serverName` offering `alpn`.
    public static func extensionData(serverName: String?, alpn: [String],
                                     random: ECHRandomSource = ECHRandom.system) throws(ECHError) -> [UInt8] {
        var unpadded = unpaddedInnerBase
        if let serverName { unpadded += 9 + serverName.utf8.count }
        if !alpn.isEmpty { unpadded += 6 + alpn.reduce(0) { $0 + 1 + $1.utf8.count } }
        let length = unpadded + ECHClientHelloBuilder.paddingLength(unpadded: unpadded, serverNameLength: serverName?.utf8.count ?? 0,
                                                                    maximumNameLength: 0)
        var sk = try ECHRandom.bytes(random, X25519.keyLength, "the GREASE ECH key")
        defer { sk.zeroize() }
        // A real public key (not 32 random bytes, which half the time are no curve point), made
        // without libcrypto's constant-time multiplication: see X25519BaseMultiplier.
        guard let enc = X25519BaseMultiplier.publicKey(scalar: sk) else { throw .crypto("the GREASE ECH key") }
        let configID = try ECHRandom.bytes(random, 1, "the GREASE config_id")[0]
        let payload = try ECHRandom.bytes(random, length + HPKESuite.tagLength, "the GREASE payload")
        return ECHClientHelloExtension.outer(kdf: HPKESuite.kdfHKDFSHA256, aead: HPKESuite.AEAD.aes128GCM.rawValue,
                                             configID: configID, enc: enc, payload: payload).encoded
    }
}
