internal import COpenSSL

/// X25519 (RFC 7748) over libcrypto's EVP_PKEY: the Diffie-Hellman group of HPKE's
/// DHKEM(X25519, HKDF-SHA256). Keys are raw 32-byte strings (RFC 9180 section 7.1.1, 7.1.2).
enum X25519 {
    static let keyLength = 32

    /// A fresh private key: 32 random bytes (X25519 clamps the scalar itself).
    static func generatePrivateKey() throws(HPKEError) -> [UInt8] {
        var sk = [UInt8](repeating: 0, count: keyLength)
        guard RAND_bytes(&sk, Int32(keyLength)) == 1 else { throw .crypto("RAND_bytes") }
        return sk
    }

    /// pk(sk).
    static func publicKey(privateKey sk: [UInt8]) throws(HPKEError) -> [UInt8] {
        let key = try privateKeyObject(sk)
        defer { EVP_PKEY_free(key) }
        var pk = [UInt8](repeating: 0, count: keyLength)
        var length = keyLength
        guard EVP_PKEY_get_raw_public_key(key, &pk, &length) == 1, length == keyLength else {
            throw .crypto("EVP_PKEY_get_raw_public_key")
        }
        return pk
    }

    /// DH(sk, pk): the 32-byte shared secret; an all-zero result (a low-order `pk`) is refused.
    static func sharedSecret(privateKey sk: [UInt8], publicKey pk: [UInt8]) throws(HPKEError) -> [UInt8] {
        try agreement(privateKey: sk, peerPublicKey: pk).sharedSecret
    }

    /// DH(sk, pk) and pk(sk) from one key object: OpenSSL computes the public key when it makes
    /// the object (a scalar multiplication), so asking for both costs two, not three.
    static func agreement(privateKey sk: [UInt8], peerPublicKey pk: [UInt8]) throws(HPKEError) -> (sharedSecret: [UInt8], publicKey: [UInt8]) {
        guard pk.count == keyLength else { throw .badKeyLength(what: "X25519 public key", expected: keyLength, got: pk.count) }
        let key = try privateKeyObject(sk)
        defer { EVP_PKEY_free(key) }
        var own = [UInt8](repeating: 0, count: keyLength)
        var ownLength = keyLength
        guard EVP_PKEY_get_raw_public_key(key, &own, &ownLength) == 1, ownLength == keyLength else {
            throw .crypto("EVP_PKEY_get_raw_public_key")
        }
        guard let peer = pk.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, $0.baseAddress, keyLength) }) else {
            throw .crypto("EVP_PKEY_new_raw_public_key")
        }
        defer { EVP_PKEY_free(peer) }
        guard let ctx = EVP_PKEY_CTX_new(key, nil) else { throw .crypto("EVP_PKEY_CTX_new") }
        defer { EVP_PKEY_CTX_free(ctx) }
        var secret = [UInt8](repeating: 0, count: keyLength)
        var length = keyLength
        guard EVP_PKEY_derive_init(ctx) == 1, EVP_PKEY_derive_set_peer(ctx, peer) == 1 else {
            throw .crypto("EVP_PKEY_derive_set_peer")
        }
        // OpenSSL itself fails the derivation when the result is all zeros; check it here too.
        guard EVP_PKEY_derive(ctx, &secret, &length) == 1, length == keyLength,
              secret.contains(where: { $0 != 0 }) else {
            secret.zeroize()
            throw .invalidPublicKey
        }
        return (secret, own)
    }

    private static func privateKeyObject(_ sk: [UInt8]) throws(HPKEError) -> OpaquePointer {
        guard sk.count == keyLength else { throw .badKeyLength(what: "X25519 private key", expected: keyLength, got: sk.count) }
        guard let key = sk.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, $0.baseAddress, keyLength) }) else {
            throw .crypto("EVP_PKEY_new_raw_private_key")
        }
        return key
    }
}
