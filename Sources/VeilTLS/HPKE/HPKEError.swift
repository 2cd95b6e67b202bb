/// Everything HPKE (RFC 9180) can refuse. Never a trap: a peer's bad key or ciphertext, or a
/// failing libcrypto call, is one of these.
public enum HPKEError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A key or encapsulated key of the wrong length.
    case badKeyLength(what: String, expected: Int, got: Int)
    /// The Diffie-Hellman result is all zeros: the peer's public key is a low-order point
    /// (RFC 9180 section 7.1.4).
    case invalidPublicKey
    /// The ciphertext does not authenticate (wrong key, info, aad, or altered bytes).
    case openFailed
    /// The context's sequence number is exhausted (section 5.2, MessageLimitReachedError).
    case messageLimitReached
    /// An export or expansion longer than HKDF can give (255 hash lengths).
    case tooLong(Int)
    /// libcrypto refused a call (allocation, provider missing...).
    case crypto(String)

    public var description: String {
        switch self {
        case .badKeyLength(let what, let expected, let got):
            "HPKE: \(what) is \(got) bytes, expected \(expected)"
        case .invalidPublicKey:
            "HPKE: the public key gives an all-zero X25519 shared secret (low-order point)"
        case .openFailed:
            "HPKE: the ciphertext does not authenticate"
        case .messageLimitReached:
            "HPKE: the context's message limit is reached"
        case .tooLong(let n):
            "HPKE: \(n) bytes requested, more than HKDF-SHA256 can expand"
        case .crypto(let call):
            "HPKE: libcrypto failed in \(call)"
        }
    }
}
