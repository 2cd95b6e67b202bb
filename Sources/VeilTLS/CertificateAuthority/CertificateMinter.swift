#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL
internal import COpenSSLShims
import Synchronization
import VeilRuntime

/// A name that cannot be put in a certificate.
public struct MintError: Error, Sendable, CustomStringConvertible, Equatable {
    public let name: String
    public let reason: String

    public var description: String { "cannot mint a certificate for '\(name)': \(reason)" }
}

/// Mints leaf certificates signed by the Veil CA, one per host name or IP address, and keeps
/// the most recently used ones (bounded LRU).
///
/// All leaves share one EC P-256 key generated at start-up (as mitmproxy does), so minting costs
/// one ECDSA signature with the CA key. Leaves: subject CN=name, SAN DNS:name or IP:address,
/// random serial, valid from now-1h to min(CA notAfter, now+397 days), basicConstraints
/// CA:FALSE, keyUsage digitalSignature, extKeyUsage serverAuth, subject and authority key
/// identifiers, signed with SHA-256.
///
/// Thread-safe. A lookup holds the lock only to search the cache; minting runs outside it (two
/// threads missing the same name may both mint; the first one cached is returned to both).
public final class CertificateMinter: Sendable {
    public struct Stats: Sendable, Equatable {
        /// Certificates minted (including ones discarded because another thread won the race).
        public var mints = 0
        /// Lookups answered from the cache.
        public var hits = 0
        /// Time spent minting, in nanoseconds (sum over `mints`).
        public var totalMintNanos: UInt64 = 0
        /// Entries dropped to stay within capacity.
        public var evictions = 0
        /// Entries dropped because they were within a day of their notAfter.
        public var expired = 0

        public init() {}

        /// Mean time per mint in nanoseconds (0 before the first mint).
        public var averageMintNanos: UInt64 { mints == 0 ? 0 : totalMintNanos / UInt64(mints) }
    }

    /// Validity of a leaf, in days (the CA/Browser Forum maximum, 397).
    static let leafValidityDays: Int32 = 397
    /// Cached leaves this close (seconds) to their notAfter are minted again.
    static let renewalMargin: Int64 = 86_400

    public let authority: CertificateAuthority
    public let capacity: Int
    /// The private key of every minted leaf (`leafKey.pkey` for `SSL_use_PrivateKey`).
    public let leafKey: MintedCertificate.Key
    /// What `X509_set_pubkey` gets: a legacy (EC_KEY-backed) copy of `leafKey`, which OpenSSL 3.0
    /// encodes directly instead of running its provider encoder and decoder (about 0.4 ms, most
    /// of a mint). `leafKey` itself if the copy cannot be made.
    private let encodingKey: MintedCertificate.Key
    private let template: LeafTemplate
    private let wallClock: @Sendable () -> Int64
    private let state: Mutex<State>

    private struct State {
        var entries: LRUMap<MintedCertificate>
        var stats = Stats()
    }

    /// Generates the shared leaf key. `capacity` bounds the number of cached leaves.
    public convenience init(authority: CertificateAuthority, capacity: Int = 1024) throws {
        try self.init(authority: authority, capacity: capacity, wallClock: { Int64(time(nil)) })
    }

    /// `wallClock`: seconds since the epoch, used for the renewal check (injectable for tests).
    init(authority: CertificateAuthority, capacity: Int,
         wallClock: @escaping @Sendable () -> Int64) throws {
        self.authority = authority
        self.capacity = max(1, capacity)
        self.wallClock = wallClock
        let key = MintedCertificate.Key(owning: try X509Support.generateP256Key())
        leafKey = key
        encodingKey = Self.legacyCopy(of: key.pkey).map { MintedCertificate.Key(owning: $0) } ?? key
        template = try LeafTemplate(authority: authority, leafKey: encodingKey.pkey)
        state = Mutex(State(entries: LRUMap(capacity: max(1, capacity))))
    }

    /// The certificate for `name` (a DNS name, or an IPv4/IPv6 literal, brackets allowed):
    /// from the cache, or minted now. Names are case-insensitive.
    public func certificate(for name: String) throws -> MintedCertificate {
        let subject = try Subject(name)
        let now = wallClock()
        let cached = state.withLock { state -> MintedCertificate? in
            guard let hit = state.entries.get(subject.key) else { return nil }
            if needsRenewal(hit, now: now) {
                state.entries.remove(subject.key)
                state.stats.expired += 1
                return nil
            }
            state.stats.hits += 1
            return hit
        }
        if let cached { return cached }

        let start = MonotonicClock.now()
        let minted = try mint(subject)
        let elapsed = MonotonicClock.now() &- start
        let (result, evicted) = state.withLock { state -> (MintedCertificate, MintedCertificate?) in
            state.stats.mints += 1
            state.stats.totalMintNanos &+= elapsed
            if let other = state.entries.get(subject.key), !needsRenewal(other, now: now) {
                return (other, nil)  // another thread minted it meanwhile
            }
            let result = state.entries.insert(minted, for: subject.key)
            if result.evicted != nil { state.stats.evictions += 1 }
            return (minted, result.evicted ?? result.replaced)
        }
        _ = evicted  // released (X509_free) here, outside the lock
        return result
    }

    public func stats() -> Stats { state.withLock { $0.stats } }

    /// Number of cached certificates.
    public var count: Int { state.withLock { $0.entries.count } }

    /// Cached names from most to least recently used (tests and debugging).
    var cachedNames: [String] { state.withLock { $0.entries.keysByRecency } }

    /// Due for renewal: within a day of notAfter, unless the CA itself ends first (minting again
    /// would give the same notAfter).
    private func needsRenewal(_ certificate: MintedCertificate, now: Int64) -> Bool {
        certificate.notAfterSeconds - now < Self.renewalMargin
            && certificate.notAfterSeconds < authority.notAfterSeconds
    }

    // MARK: Minting

    /// A legacy `EVP_PKEY` sharing the EC key of the provider-native `pkey` (see `encodingKey`).
    private static func legacyCopy(of pkey: OpaquePointer) -> OpaquePointer? {
        guard let ec = veil_EVP_PKEY_get1_EC_KEY(pkey) else {
            OpenSSLError.drainQueue()
            return nil
        }
        guard let copy = EVP_PKEY_new() else {
            veil_EC_KEY_free(ec)
            OpenSSLError.drainQueue()
            return nil
        }
        guard veil_EVP_PKEY_assign_EC_KEY(copy, ec) == 1 else {
            veil_EC_KEY_free(ec)
            EVP_PKEY_free(copy)
            OpenSSLError.drainQueue()
            return nil
        }
        return copy
    }

    private func mint(_ subject: Subject) throws -> MintedCertificate {
        guard let cert = X509_new() else { throw OpenSSLError.drain("X509_new") }
        do {
            try build(cert, subject)
        } catch {
            X509_free(cert)
            throw error
        }
        return MintedCertificate(owning: cert, name: subject.key, authority: authority)
    }

    private func build(_ cert: OpaquePointer, _ subject: Subject) throws {
        let ca = authority.x509
        guard X509_set_version(cert, Int(X509_VERSION_3)) == 1 else { throw OpenSSLError.drain("X509_set_version") }
        try X509Support.setRandomSerial(cert)
        guard X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nil,
              X509_time_adj_ex(X509_getm_notAfter(cert), Self.leafValidityDays, 0, nil) != nil
        else { throw OpenSSLError.drain("setting the validity") }
        if ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(ca)) > 0 {
            guard X509_set1_notAfter(cert, X509_get0_notAfter(ca)) == 1 else {
                throw OpenSSLError.drain("X509_set1_notAfter")
            }
        }
        let name = try X509Support.makeName(commonName: String(subject.key.prefix(64)), organization: nil)
        defer { X509_NAME_free(name) }
        guard X509_set_subject_name(cert, name) == 1,
              X509_set_issuer_name(cert, X509_get_subject_name(ca)) == 1
        else { throw OpenSSLError.drain("setting the names") }
        guard X509_set_pubkey(cert, encodingKey.pkey) == 1 else { throw OpenSSLError.drain("X509_set_pubkey") }
        for ext in template.extensions {
            guard X509_add_ext(cert, ext, -1) == 1 else { throw OpenSSLError.drain("X509_add_ext") }
        }
        try addSubjectAltName(cert, subject)
        guard X509_sign(cert, authority.privateKey, X509Support.signingDigest(for: authority.privateKey)) > 0 else {
            throw OpenSSLError.drain("X509_sign")
        }
        // Fill OpenSSL's per-certificate extension cache before other threads can see it.
        _ = X509_check_purpose(cert, -1, 0)
    }

    private func addSubjectAltName(_ cert: OpaquePointer, _ subject: Subject) throws {
        guard let names = veil_sk_GENERAL_NAME_new_null() else { throw OpenSSLError.drain("sk_GENERAL_NAME_new_null") }
        defer { GENERAL_NAMES_free(names) }
        guard let general = GENERAL_NAME_new() else { throw OpenSSLError.drain("GENERAL_NAME_new") }
        switch subject.address {
        case .some(let bytes):
            guard let octets = ASN1_OCTET_STRING_new() else {
                GENERAL_NAME_free(general)
                throw OpenSSLError.drain("ASN1_OCTET_STRING_new")
            }
            GENERAL_NAME_set0_value(general, GEN_IPADD, UnsafeMutableRawPointer(octets))
            guard ASN1_OCTET_STRING_set(octets, bytes, Int32(bytes.count)) == 1 else {
                GENERAL_NAME_free(general)
                throw OpenSSLError.drain("ASN1_OCTET_STRING_set")
            }
        case .none:
            guard let text = ASN1_IA5STRING_new() else {
                GENERAL_NAME_free(general)
                throw OpenSSLError.drain("ASN1_IA5STRING_new")
            }
            GENERAL_NAME_set0_value(general, GEN_DNS, UnsafeMutableRawPointer(text))
            let bytes = Array(subject.key.utf8)
            guard ASN1_STRING_set(text, bytes, Int32(bytes.count)) == 1 else {
                GENERAL_NAME_free(general)
                throw OpenSSLError.drain("ASN1_STRING_set")
            }
        }
        guard veil_sk_GENERAL_NAME_push(names, general) > 0 else {
            GENERAL_NAME_free(general)
            throw OpenSSLError.drain("sk_GENERAL_NAME_push")
        }
        guard X509_add1_ext_i2d(cert, NID_subject_alt_name, UnsafeMutableRawPointer(names), 0,
                            UInt(X509V3_ADD_DEFAULT)) == 1
        else { throw OpenSSLError.drain("subjectAltName") }
    }

    /// A validated, normalized name: the cache key (lowercase DNS name, or the canonical text of
    /// an IP address) and, for IP literals, the address bytes for the SAN.
    struct Subject {
        let key: String
        let address: [UInt8]?

        init(_ raw: String) throws {
            var text = raw.lowercased()
            if text.hasPrefix("[") && text.hasSuffix("]") && text.count > 2 {
                text = String(text.dropFirst().dropLast())
            }
            var v4 = in_addr()
            var v6 = in6_addr()
            if inet_pton(AF_INET, text, &v4) == 1 {
                address = withUnsafeBytes(of: &v4) { Array($0) }
                key = Subject.canonical(AF_INET, &v4) ?? text
                return
            }
            if inet_pton(AF_INET6, text, &v6) == 1 {
                address = withUnsafeBytes(of: &v6) { Array($0) }
                key = Subject.canonical(AF_INET6, &v6) ?? text
                return
            }
            if text.hasSuffix(".") { text.removeLast() }
            guard !text.isEmpty else { throw MintError(name: raw, reason: "empty name") }
            guard text.utf8.count <= 253 else { throw MintError(name: raw, reason: "longer than 253 bytes") }
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                     UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                    continue
                default:
                    throw MintError(name: raw, reason: "not a DNS name (only a-z, 0-9, '-', '_' and '.'; IDNs as punycode)")
                }
            }
            guard !text.hasPrefix("."), !text.contains("..") else {
                throw MintError(name: raw, reason: "empty label")
            }
            key = text
            address = nil
        }

        private static func canonical(_ family: Int32, _ address: UnsafeRawPointer) -> String? {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            guard inet_ntop(family, address, &buffer, socklen_t(buffer.count)) != nil else { return nil }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// The extensions every leaf shares (built once: the leaf key and the CA are fixed), as
/// `X509_EXTENSION*`s owned here and copied into each certificate by `X509_add_ext`.
private final class LeafTemplate: @unchecked Sendable {
    let extensions: [OpaquePointer]

    init(authority: CertificateAuthority, leafKey: OpaquePointer) throws {
        // A certificate holding only the leaf public key, for subjectKeyIdentifier = hash.
        guard let holder = X509_new() else { throw OpenSSLError.drain("X509_new") }
        defer { X509_free(holder) }
        guard X509_set_pubkey(holder, leafKey) == 1 else { throw OpenSSLError.drain("X509_set_pubkey") }
        var specs: [(Int32, String)] = [
            (NID_basic_constraints, "critical,CA:FALSE"),
            (NID_key_usage, "critical,digitalSignature"),
            (NID_ext_key_usage, "serverAuth"),
            (NID_subject_key_identifier, "hash"),
        ]
        // A user-supplied CA without a subjectKeyIdentifier gives leaves no AKI (chains are
        // then built by issuer name, which works).
        if X509_get0_subject_key_id(authority.x509) != nil {
            specs.append((NID_authority_key_identifier, "keyid:always"))
        }
        var built: [OpaquePointer] = []
        do {
            for (nid, value) in specs {
                built.append(try X509Support.makeExtension(nid: nid, value: value,
                                                           issuer: authority.x509, subject: holder))
            }
        } catch {
            for ext in built { X509_EXTENSION_free(ext) }
            throw error
        }
        extensions = built
    }

    deinit {
        for ext in extensions { X509_EXTENSION_free(ext) }
    }
}
