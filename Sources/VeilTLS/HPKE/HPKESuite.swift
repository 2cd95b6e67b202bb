/// An HPKE cipher suite (RFC 9180 section 7) that Veil implements: KEM DHKEM(X25519,
/// HKDF-SHA256), KDF HKDF-SHA256, and one of three AEADs. These are the suites ECH configs
/// offer in practice (RFC 9849 section 9 makes X25519 with HKDF-SHA256 and AES-128-GCM the
/// mandatory one).
public struct HPKESuite: Sendable, Hashable, CustomStringConvertible {
    public enum AEAD: UInt16, Sendable, Hashable, CaseIterable {
        case aes128GCM = 0x0001
        case aes256GCM = 0x0002
        case chaCha20Poly1305 = 0x0003

        /// Nk: the key length in bytes.
        public var keyLength: Int { self == .aes128GCM ? 16 : 32 }
        /// The cipher number of CRecordCrypto's AEAD functions (0, 1, 2).
        var cipherIndex: Int32 { Int32(rawValue) - 1 }
        public var name: String {
            switch self {
            case .aes128GCM: "AES-128-GCM"
            case .aes256GCM: "AES-256-GCM"
            case .chaCha20Poly1305: "ChaCha20-Poly1305"
            }
        }
    }

    /// DHKEM(X25519, HKDF-SHA256).
    public static let kemX25519HKDFSHA256: UInt16 = 0x0020
    /// HKDF-SHA256.
    public static let kdfHKDFSHA256: UInt16 = 0x0001
    /// Nn: every AEAD here takes a 12-byte nonce.
    public static let nonceLength = 12
    /// Nt: and adds a 16-byte tag.
    public static let tagLength = 16
    /// Nh: HKDF-SHA256's output.
    static let hashLength = 32

    public let aead: AEAD
    public var kem: UInt16 { Self.kemX25519HKDFSHA256 }
    public var kdf: UInt16 { Self.kdfHKDFSHA256 }

    public init(aead: AEAD) { self.aead = aead }

    /// The suite for these identifiers, or nil when Veil does not implement it.
    public init?(kem: UInt16, kdf: UInt16, aead: UInt16) {
        guard kem == Self.kemX25519HKDFSHA256, kdf == Self.kdfHKDFSHA256, let a = AEAD(rawValue: aead) else { return nil }
        self.aead = a
    }

    /// suite_id of HPKE's key schedule: "HPKE" || kem_id || kdf_id || aead_id.
    var suiteID: [UInt8] {
        Array("HPKE".utf8) + [UInt8(kem >> 8), UInt8(kem & 0xff), UInt8(kdf >> 8), UInt8(kdf & 0xff),
                             UInt8(aead.rawValue >> 8), UInt8(aead.rawValue & 0xff)]
    }

    public var description: String { "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, " + aead.name }
}
