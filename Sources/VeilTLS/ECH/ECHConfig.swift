/// One ECHConfig of an ECHConfigList (RFC 9849 section 4), version 0xfe0d or another (then only
/// its version and bytes are known). `unusableReason` says why Veil must skip it, if it must.
public struct ECHConfig: Sendable, Equatable {
    /// The only version Veil (and RFC 9849) knows.
    public static let version13: UInt16 = 0xfe0d

    public struct CipherSuite: Sendable, Equatable, CustomStringConvertible {
        public let kdf: UInt16
        public let aead: UInt16
        public var description: String { Hex.word(kdf) + "/" + Hex.word(aead) }
    }

    public struct Extension: Sendable, Equatable {
        public let type: UInt16
        public let data: [UInt8]
        /// The high bit of the type: a client that does not know it must skip the config.
        public var isMandatory: Bool { type & 0x8000 != 0 }
    }

    public let version: UInt16
    /// The whole ECHConfig as it came (version and length included): HPKE's info is
    /// "tls ech" || 0x00 || these bytes (RFC 9849 section 6.1).
    public let bytes: [UInt8]
    public let configID: UInt8
    public let kemID: UInt16
    public let publicKey: [UInt8]
    public let cipherSuites: [CipherSuite]
    public let maximumNameLength: UInt8
    public let publicName: String
    public let extensions: [Extension]

    /// Extension types Veil understands (none are defined yet; RFC 9849 registers none).
    static let knownExtensions: Set<UInt16> = []

    /// The HPKE suite Veil would use with this config: the first of its suites Veil supports.
    public var suite: HPKESuite? {
        guard kemID == HPKESuite.kemX25519HKDFSHA256 else { return nil }
        return cipherSuites.lazy.compactMap { HPKESuite(kem: self.kemID, kdf: $0.kdf, aead: $0.aead) }.first
    }

    /// HPKE's info for this config (RFC 9849 section 6.1).
    public var hpkeInfo: [UInt8] { Array("tls ech".utf8) + [0] + bytes }

    /// Why this config must be skipped, or nil when Veil can use it.
    public var unusableReason: String? {
        let id = "config " + String(configID)
        guard version == Self.version13 else { return "version " + Hex.word(version) + " not supported" }
        guard kemID == HPKESuite.kemX25519HKDFSHA256 else {
            return id + ": KEM " + Hex.word(kemID) + " not supported (Veil has DHKEM(X25519, HKDF-SHA256), 0x0020)"
        }
        guard publicKey.count == DHKEM.length else {
            return id + ": X25519 public key of " + String(publicKey.count) + " bytes (must be 32)"
        }
        guard suite != nil else {
            return id + ": no cipher suite Veil supports (offered kdf/aead " + cipherSuites.map(\.description).joined(separator: ", ")
                + "; Veil has HKDF-SHA256 with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305)"
        }
        if let unknown = extensions.first(where: { $0.isMandatory && !Self.knownExtensions.contains($0.type) }) {
            return id + ": unknown mandatory extension " + Hex.word(unknown.type)
        }
        var seen = Set<UInt16>()
        if let repeated = extensions.first(where: { !seen.insert($0.type).inserted }) {
            return id + ": extension " + Hex.word(repeated.type) + " appears twice"
        }
        if let problem = Self.publicNameProblem(publicName) {
            return id + ": public_name " + problem
        }
        return nil
    }

    /// RFC 9849 section 4: the public_name must be dot-separated LDH labels (RFC 5890 2.3.1),
    /// not starting or ending with a dot, and (SHOULD) its last label must not read as an IPv4
    /// number (all digits, or 0x and hex digits).
    static func publicNameProblem(_ name: String) -> String? {
        let shown = "'" + String(name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?" }) + "'"
        let labels = name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        for label in labels {
            guard !label.isEmpty, label.count <= 63 else { return shown + " has an empty or over-long label" }
            guard label.allSatisfy({ isLDH($0) }), label.first != UInt8(ascii: "-"), label.last != UInt8(ascii: "-") else {
                return shown + " is not a DNS name (letters, digits and inner hyphens only)"
            }
        }
        if let last = labels.last {
            let lower = last.map { $0 | 0x20 }
            let hexDigits = lower.dropFirst(2)
            if last.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
                || (lower.starts(with: [UInt8(ascii: "0"), UInt8(ascii: "x")])
                    && hexDigits.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) })) {
                return shown + " ends in a numeric label (reads as an IPv4 address)"
            }
        }
        return nil
    }

    private static func isLDH(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-")
    }
}
