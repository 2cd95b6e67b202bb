internal import COpenSSL
internal import CRecordCrypto

/// The server's signal that it accepted ECH (RFC 9849 section 7.2, 7.2.1), computed by the
/// client from the handshake it believes in (the ClientHelloInner one):
///
///     accept_confirmation = HKDF-Expand-Label(HKDF-Extract(0, ClientHelloInner.random),
///                                             "ech accept confirmation", transcript_ech_conf, 8)
///
/// transcript_ech_conf is the transcript hash (RFC 8446 section 4.4.1, with the hash of the
/// negotiated cipher suite) over ClientHelloInner up to the ServerHello whose last 8 random
/// bytes are zeroed. After a HelloRetryRequest the HRR's "encrypted_client_hello" extension
/// carries hrr_accept_confirmation (label "hrr ech accept confirmation", transcript up to the
/// HRR with that extension's 8 bytes zeroed, ClientHello1 replaced by its message_hash).
public enum ECHAcceptance {
    /// The confirmation length: 8 bytes.
    public static let length = 8

    /// The transcript hash of a TLS 1.3 cipher suite: SHA-384 for TLS_AES_256_GCM_SHA384
    /// (0x1302), SHA-256 for the others.
    enum Hash {
        case sha256, sha384

        init(cipherSuite: UInt16) { self = cipherSuite == 0x1302 ? .sha384 : .sha256 }

        var length: Int { self == .sha384 ? 48 : 32 }
        var name: String { self == .sha384 ? "SHA384" : "SHA256" }

        func digest(_ bytes: [UInt8]) throws(ECHError) -> [UInt8] {
            var out = [UInt8](repeating: 0, count: length)
            var written: UInt32 = 0
            let ok = bytes.withUnsafeBytes { raw in
                EVP_Digest(raw.baseAddress, raw.count, &out, &written, self == .sha384 ? EVP_sha384() : EVP_sha256(), nil)
            }
            guard ok == 1, Int(written) == length else { throw .crypto("digest " + name) }
            return out
        }
    }

    /// HKDF-Expand-Label(HKDF-Extract(0, innerRandom), label, transcriptHash, 8).
    static func confirmation(innerRandom: [UInt8], label: String, transcriptHash: [UInt8], hash: Hash) throws(ECHError) -> [UInt8] {
        let zeros = [UInt8](repeating: 0, count: hash.length)
        var prk = [UInt8](repeating: 0, count: hash.length)
        guard veil_hkdf_extract(hash.name, zeros, zeros.count, innerRandom, innerRandom.count, &prk) == 1 else {
            throw .crypto("HKDF-Extract")
        }
        defer { prk.zeroize() }
        // HkdfLabel: uint16 length, opaque label<7..255> = "tls13 " + label, opaque context<0..255>.
        let fullLabel = Array("tls13 ".utf8) + Array(label.utf8)
        let info = HelloEncoding.u16(length) + HelloEncoding.vector8(fullLabel) + HelloEncoding.vector8(transcriptHash)
        var out = [UInt8](repeating: 0, count: length)
        guard veil_hkdf_expand(hash.name, prk, prk.count, info, info.count, &out, length) == 1 else {
            throw .crypto("HKDF-Expand-Label")
        }
        return out
    }

    /// message_hash (RFC 8446 section 4.4.1): what replaces ClientHello1 in the transcript
    /// after a HelloRetryRequest: 254, 00 00 Hash.length, Hash(ClientHello1).
    static func messageHash(_ clientHello1: [UInt8], hash: Hash) throws(ECHError) -> [UInt8] {
        [254, 0, 0, UInt8(hash.length)] + (try hash.digest(clientHello1))
    }

    /// The 8 bytes a ServerHello that accepts ECH carries at the end of its random, for this
    /// transcript. `transcriptBefore` is every handshake message before the ServerHello, as the
    /// inner handshake sees them (ClientHelloInner, or message_hash(ClientHelloInner1) ||
    /// HelloRetryRequest || ClientHelloInner2); `serverHello` the whole message, header included.
    public static func expected(serverHello: [UInt8], transcriptBefore: [UInt8], innerRandom: [UInt8],
                                cipherSuite: UInt16) throws(ECHError) -> [UInt8] {
        let randomEnd = HandshakeMessage.headerSize + 2 + 32
        guard serverHello.count >= randomEnd else { throw .badServerHello("ServerHello shorter than its random") }
        var zeroed = serverHello
        for i in randomEnd - length..<randomEnd { zeroed[i] = 0 }
        let hash = Hash(cipherSuite: cipherSuite)
        return try confirmation(innerRandom: innerRandom, label: "ech accept confirmation",
                                transcriptHash: try hash.digest(transcriptBefore + zeroed), hash: hash)
    }

    /// The last 8 bytes of a ServerHello message's random.
    public static func signal(serverHello: [UInt8]) -> [UInt8] {
        let randomEnd = HandshakeMessage.headerSize + 2 + 32
        guard serverHello.count >= randomEnd else { return [] }
        return Array(serverHello[randomEnd - length..<randomEnd])
    }

    /// hrr_accept_confirmation for a HelloRetryRequest message (header included) whose
    /// "encrypted_client_hello" extension data lies at `extensionRange` (message offsets):
    /// transcript message_hash(ClientHelloInner1) || HRR with those bytes zeroed.
    public static func expectedHelloRetry(helloRetryRequest: [UInt8], extensionRange: Range<Int>, clientHelloInner1: [UInt8],
                                          cipherSuite: UInt16) throws(ECHError) -> [UInt8] {
        guard extensionRange.lowerBound >= 0, extensionRange.upperBound <= helloRetryRequest.count,
              extensionRange.count == length else {
            throw .badServerHello("HelloRetryRequest encrypted_client_hello of \(extensionRange.count) bytes (must be 8)")
        }
        let hash = Hash(cipherSuite: cipherSuite)
        guard clientHelloInner1.count >= HandshakeMessage.headerSize + 34 else { throw .badInner("ClientHelloInner too short") }
        var zeroed = helloRetryRequest
        for i in extensionRange { zeroed[i] = 0 }
        let innerRandom = Array(clientHelloInner1[HandshakeMessage.headerSize + 2..<HandshakeMessage.headerSize + 34])
        let transcript = try messageHash(clientHelloInner1, hash: hash) + zeroed
        return try confirmation(innerRandom: innerRandom, label: "hrr ech accept confirmation",
                                transcriptHash: try hash.digest(transcript), hash: hash)
    }
}
