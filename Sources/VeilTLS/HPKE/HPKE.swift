/// HPKE base mode (RFC 9180 section 5.1.1, 6.1) for the suites of `HPKESuite`, over libcrypto
/// (X25519 by EVP_PKEY_derive, HKDF-SHA256 by Veil's HMAC-based HKDF in CRecordCrypto, the
/// AEADs by EVP_CIPHER). Debian 12's OpenSSL 3.0 has no HPKE API; ECH (RFC 9849) needs it.
public enum HPKE {
    /// SetupBaseS(pkR, info): the encapsulated key to send and the sender's context.
    public static func setupBaseSender(suite: HPKESuite, recipientPublicKey: [UInt8], info: [UInt8]) throws(HPKEError) -> (encapsulatedKey: [UInt8], context: HPKEContext) {
        var skE = try X25519.generatePrivateKey()
        defer { skE.zeroize() }
        return try setupBaseSender(suite: suite, recipientPublicKey: recipientPublicKey, info: info, ephemeralPrivateKey: skE)
    }

    /// SetupBaseS with a given ephemeral private key (the RFC's test vectors fix it).
    static func setupBaseSender(suite: HPKESuite, recipientPublicKey: [UInt8], info: [UInt8], ephemeralPrivateKey: [UInt8]) throws(HPKEError) -> (encapsulatedKey: [UInt8], context: HPKEContext) {
        var (enc, context, sharedSecret) = try setupBaseSenderKeepingSecret(suite: suite, recipientPublicKey: recipientPublicKey, info: info,
                                                                           ephemeralPrivateKey: ephemeralPrivateKey)
        sharedSecret.zeroize()
        return (enc, context)
    }

    /// SetupBaseS that also answers the KEM's shared_secret (for ECH_SECRET in a key log); the
    /// caller zeroes it.
    static func setupBaseSenderKeepingSecret(suite: HPKESuite, recipientPublicKey: [UInt8], info: [UInt8], ephemeralPrivateKey: [UInt8]) throws(HPKEError) -> (encapsulatedKey: [UInt8], context: HPKEContext, sharedSecret: [UInt8]) {
        guard recipientPublicKey.count == DHKEM.length else {
            throw .badKeyLength(what: "recipient public key", expected: DHKEM.length, got: recipientPublicKey.count)
        }
        var (sharedSecret, enc) = try DHKEM.encapsulate(recipientPublicKey: recipientPublicKey, ephemeralPrivateKey: ephemeralPrivateKey)
        do {
            return (enc, try keySchedule(suite: suite, sharedSecret: sharedSecret, info: info), sharedSecret)
        } catch {
            sharedSecret.zeroize()
            throw error
        }
    }

    /// SetupBaseR(enc, skR, info): the recipient's context.
    public static func setupBaseRecipient(suite: HPKESuite, encapsulatedKey: [UInt8], recipientPrivateKey: [UInt8], info: [UInt8]) throws(HPKEError) -> HPKEContext {
        var sharedSecret = try DHKEM.decapsulate(enc: encapsulatedKey, recipientPrivateKey: recipientPrivateKey)
        defer { sharedSecret.zeroize() }
        return try keySchedule(suite: suite, sharedSecret: sharedSecret, info: info)
    }

    /// Single-shot SealBase (section 6.1): (enc, ciphertext).
    public static func seal(suite: HPKESuite, recipientPublicKey: [UInt8], info: [UInt8], aad: [UInt8], plaintext: [UInt8]) throws(HPKEError) -> (encapsulatedKey: [UInt8], ciphertext: [UInt8]) {
        let (enc, context) = try setupBaseSender(suite: suite, recipientPublicKey: recipientPublicKey, info: info)
        return (enc, try context.seal(aad: aad, plaintext: plaintext))
    }

    /// Single-shot OpenBase (section 6.1).
    public static func open(suite: HPKESuite, encapsulatedKey: [UInt8], recipientPrivateKey: [UInt8], info: [UInt8], aad: [UInt8], ciphertext: [UInt8]) throws(HPKEError) -> [UInt8] {
        let context = try setupBaseRecipient(suite: suite, encapsulatedKey: encapsulatedKey, recipientPrivateKey: recipientPrivateKey, info: info)
        return try context.open(aad: aad, ciphertext: ciphertext)
    }

    /// A fresh recipient key pair (private, public), e.g. for GREASE or tests.
    public static func generateKeyPair() throws(HPKEError) -> (privateKey: [UInt8], publicKey: [UInt8]) {
        let sk = try X25519.generatePrivateKey()
        return (sk, try X25519.publicKey(privateKey: sk))
    }

    /// KeySchedule (section 5.1) in mode_base: no PSK.
    static func keySchedule(suite: HPKESuite, sharedSecret: [UInt8], info: [UInt8]) throws(HPKEError) -> HPKEContext {
        let kdf = HPKELabeledKDF(suiteID: suite.suiteID)
        let pskIDHash = try kdf.extract(salt: [], label: "psk_id_hash", ikm: [])
        let infoHash = try kdf.extract(salt: [], label: "info_hash", ikm: info)
        let context = [0x00] + pskIDHash + infoHash
        var secret = try kdf.extract(salt: sharedSecret, label: "secret", ikm: [])
        defer { secret.zeroize() }
        return HPKEContext(
            suite: suite,
            key: try kdf.expand(prk: secret, label: "key", info: context, length: suite.aead.keyLength),
            baseNonce: try kdf.expand(prk: secret, label: "base_nonce", info: context, length: HPKESuite.nonceLength),
            exporterSecret: try kdf.expand(prk: secret, label: "exp", info: context, length: HPKESuite.hashLength))
    }
}
