/// DHKEM(X25519, HKDF-SHA256) (RFC 9180 section 4.1, 7.1.3): encapsulation to a recipient's
/// public key and decapsulation with its private key. Intermediate secrets are zeroed.
enum DHKEM {
    /// Nsecret, Nenc, Npk, Nsk: all 32 for X25519.
    static let length = 32
    private static let kdf = HPKELabeledKDF.dhkemX25519

    /// DeriveKeyPair(ikm): the deterministic key pair RFC 9180's test vectors use (sk, pk).
    static func deriveKeyPair(ikm: [UInt8]) throws(HPKEError) -> (privateKey: [UInt8], publicKey: [UInt8]) {
        var prk = try kdf.extract(salt: [], label: "dkp_prk", ikm: ikm)
        defer { prk.zeroize() }
        let sk = try kdf.expand(prk: prk, label: "sk", info: [], length: length)
        return (sk, try X25519.publicKey(privateKey: sk))
    }

    /// Encap(pkR) with the ephemeral private key `skE`: (shared_secret, enc).
    static func encapsulate(recipientPublicKey pkR: [UInt8], ephemeralPrivateKey skE: [UInt8]) throws(HPKEError) -> (sharedSecret: [UInt8], enc: [UInt8]) {
        var (dh, enc) = try X25519.agreement(privateKey: skE, peerPublicKey: pkR)
        defer { dh.zeroize() }
        return (try extractAndExpand(dh: dh, kemContext: enc + pkR), enc)
    }

    /// Decap(enc, skR): shared_secret.
    static func decapsulate(enc: [UInt8], recipientPrivateKey skR: [UInt8]) throws(HPKEError) -> [UInt8] {
        guard enc.count == length else { throw .badKeyLength(what: "encapsulated key", expected: length, got: enc.count) }
        var (dh, pkRm) = try X25519.agreement(privateKey: skR, peerPublicKey: enc)
        defer { dh.zeroize() }
        return try extractAndExpand(dh: dh, kemContext: enc + pkRm)
    }

    private static func extractAndExpand(dh: [UInt8], kemContext: [UInt8]) throws(HPKEError) -> [UInt8] {
        var prk = try kdf.extract(salt: [], label: "eae_prk", ikm: dh)
        defer { prk.zeroize() }
        return try kdf.expand(prk: prk, label: "shared_secret", info: kemContext, length: length)
    }
}
