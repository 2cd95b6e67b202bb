#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL

/// A problem with the CA files under `$VEIL_HOME`: what is wrong, which path, and what to do.
/// Veil never replaces or overwrites an existing CA file; every problem is reported instead.
public struct CertificateAuthorityError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `$VEIL_HOME` cannot be created or is not a directory.
        case directory
        /// A file exists but cannot be read (permissions, I/O error, too large).
        case unreadable
        /// A file does not hold a usable PEM certificate / private key.
        case corrupt
        /// `ca-key.pem` has group or other permission bits.
        case insecureKeyPermissions
        /// The private key does not belong to the certificate.
        case keyMismatch
        /// One of the two files is missing.
        case incompletePair
        /// The certificate is not a CA certificate (basicConstraints CA:TRUE, keyCertSign).
        case notCA
        /// The certificate's notAfter is in the past.
        case expired
        /// Generating or writing a new CA failed.
        case creation
    }

    public let kind: Kind
    /// The file (or directory) concerned.
    public let path: String
    /// The whole explanation, including what to do about it.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }
}

/// Veil's interception CA: an EC P-256 (or user-supplied) key and a self-signed CA certificate
/// kept in `$VEIL_HOME/ca.pem` (0644) and `$VEIL_HOME/ca-key.pem` (0600).
///
/// Immutable after `loadOrCreate`; the X509/EVP_PKEY it holds are only read afterwards (OpenSSL 3
/// allows concurrent signing with one key), hence `@unchecked Sendable`.
public final class CertificateAuthority: @unchecked Sendable {
    public static let certificateFileName = "ca.pem"
    public static let keyFileName = "ca-key.pem"
    /// Validity of a newly generated CA certificate, in days (about 10 years).
    static let validityDays: Int32 = 3652

    /// `X509*`: the CA certificate (owned). For the minter and the handshake engine (chain).
    let x509: OpaquePointer
    /// `EVP_PKEY*`: the CA private key (owned). Signs minted certificates.
    let privateKey: OpaquePointer

    /// `$VEIL_HOME/ca.pem`.
    public let certificatePath: String
    /// `$VEIL_HOME/ca-key.pem`.
    public let keyPath: String
    /// The CA certificate as PEM text (what users install as a trust anchor).
    public let certificatePEM: String
    /// The subject, e.g. `CN=Veil CA myhost, O=Veil`.
    public let subjectName: String
    /// The certificate's notAfter, e.g. `2035-11-19 21:30:00 UTC`.
    public let notAfter: String
    /// The certificate's notAfter in seconds since the Unix epoch.
    public let notAfterSeconds: Int64
    /// True when this call generated the CA (first run), false when it was loaded.
    public let wasCreated: Bool

    private init(x509: OpaquePointer, privateKey: OpaquePointer, certificatePath: String,
                 keyPath: String, wasCreated: Bool) throws {
        self.x509 = x509
        self.privateKey = privateKey
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        self.wasCreated = wasCreated
        self.subjectName = X509Support.nameString(X509_get_subject_name(x509))
        let seconds = X509Support.epochSeconds(X509_get0_notAfter(x509)) ?? 0
        self.notAfterSeconds = seconds
        self.notAfter = X509Support.humanTime(seconds)
        self.certificatePEM = try X509Support.pem(x509)
        // Fill OpenSSL's per-certificate extension cache now, while only this thread sees it.
        _ = X509_check_ca(x509)
    }

    deinit {
        X509_free(x509)
        EVP_PKEY_free(privateKey)
    }

    /// Loads the CA from `home` (Veil's `$VEIL_HOME`), or creates it there on first run.
    ///
    /// - `home` is created (mode 0700, parents too) if missing.
    /// - Neither file present: a new EC P-256 key (`ca-key.pem`, created 0600 with O_EXCL) and a
    ///   self-signed CA certificate (`ca.pem`, 0644) are generated.
    /// - Both present: both are loaded and checked (key mode without group/other bits, key
    ///   matches certificate, certificate is a CA and not expired).
    /// - Anything else (one file missing, unreadable, corrupt, mismatched, insecure) throws a
    ///   `CertificateAuthorityError` naming the path and the fix. Existing files are never
    ///   modified, replaced or removed.
    public static func loadOrCreate(home: String) throws -> CertificateAuthority {
        let directory = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        try FileSupport.makeDirectory(directory)
        let certPath = directory + "/" + certificateFileName
        let keyPath = directory + "/" + keyFileName
        let certExists = try FileSupport.exists(certPath)
        let keyExists = try FileSupport.exists(keyPath)
        switch (certExists, keyExists) {
        case (false, false):
            return try create(certPath: certPath, keyPath: keyPath)
        case (true, true):
            return try load(certPath: certPath, keyPath: keyPath)
        case (true, false):
            throw CertificateAuthorityError(.incompletePair, path: keyPath, """
                CA certificate \(certPath) exists but its private key \(keyPath) is missing; \
                restore the key, or remove \(certPath) to let Veil generate a new CA \
                (clients must then trust the new certificate)
                """)
        case (false, true):
            throw CertificateAuthorityError(.incompletePair, path: certPath, """
                CA private key \(keyPath) exists but its certificate \(certPath) is missing; \
                restore the certificate, or remove \(keyPath) to let Veil generate a new CA \
                (clients must then trust the new certificate)
                """)
        }
    }

    // MARK: Loading

    private static func load(certPath: String, keyPath: String) throws -> CertificateAuthority {
        let keyBytes = try FileSupport.readPrivateFile(keyPath)
        let certBytes = try FileSupport.readFile(certPath)
        let removeBoth = "remove both \(certPath) and \(keyPath) to generate a new CA"

        guard let key = X509Support.parsePrivateKey(keyBytes) else {
            let detail = OpenSSLError.drain("PEM_read_bio_PrivateKey")
            throw CertificateAuthorityError(.corrupt, path: keyPath, """
                \(keyPath) does not hold a readable unencrypted PEM private key (\(detail)); \
                restore it from a backup, or \(removeBoth)
                """)
        }
        guard let cert = X509Support.parseCertificate(certBytes) else {
            EVP_PKEY_free(key)
            let detail = OpenSSLError.drain("PEM_read_bio_X509")
            throw CertificateAuthorityError(.corrupt, path: certPath, """
                \(certPath) does not hold a readable PEM certificate (\(detail)); \
                restore it from a backup, or \(removeBoth)
                """)
        }
        var owned = true
        defer {
            if owned {
                X509_free(cert)
                EVP_PKEY_free(key)
            }
        }
        guard X509_check_private_key(cert, key) == 1 else {
            OpenSSLError.drainQueue()
            throw CertificateAuthorityError(.keyMismatch, path: keyPath, """
                \(keyPath) is not the private key of the certificate in \(certPath); \
                restore the matching pair, or \(removeBoth)
                """)
        }
        guard X509_check_ca(cert) != 0 else {
            throw CertificateAuthorityError(.notCA, path: certPath, """
                \(certPath) is not a CA certificate (it needs basicConstraints CA:TRUE and, \
                if keyUsage is present, keyCertSign); replace the pair with a CA, or \(removeBoth)
                """)
        }
        if X509_cmp_current_time(X509_get0_notAfter(cert)) < 0 {
            let seconds = X509Support.epochSeconds(X509_get0_notAfter(cert)) ?? 0
            throw CertificateAuthorityError(.expired, path: certPath, """
                the CA certificate \(certPath) expired on \(X509Support.humanTime(seconds)); \
                \(removeBoth) (clients must then trust the new certificate)
                """)
        }
        OpenSSLError.drainQueue()
        let authority = try CertificateAuthority(
            x509: cert, privateKey: key, certificatePath: certPath, keyPath: keyPath,
            wasCreated: false)
        owned = false
        return authority
    }

    // MARK: Creation

    private static func create(certPath: String, keyPath: String) throws -> CertificateAuthority {
        let key: OpaquePointer
        let cert: OpaquePointer
        do {
            key = try X509Support.generateP256Key()
        } catch {
            throw CertificateAuthorityError(.creation, path: keyPath,
                                            "cannot generate the CA key: \(error)")
        }
        do {
            cert = try makeCertificate(key: key)
        } catch {
            EVP_PKEY_free(key)
            throw CertificateAuthorityError(.creation, path: certPath,
                                            "cannot build the CA certificate: \(error)")
        }
        var owned = true
        defer {
            if owned {
                X509_free(cert)
                EVP_PKEY_free(key)
            }
        }
        let keyPEM: [UInt8]
        let certPEM: [UInt8]
        do {
            keyPEM = try X509Support.pemBytes(privateKey: key)
            certPEM = try X509Support.pemBytes(cert)
        } catch {
            throw CertificateAuthorityError(.creation, path: keyPath, "cannot encode the CA: \(error)")
        }
        // The key first: if writing the certificate fails, the key we just made is removed
        // again (it is ours; nothing that existed before is touched).
        try FileSupport.createExclusive(keyPath, mode: 0o600, contents: keyPEM)
        do {
            try FileSupport.createExclusive(certPath, mode: 0o644, contents: certPEM)
        } catch {
            unlink(keyPath)
            throw error
        }
        let authority = try CertificateAuthority(
            x509: cert, privateKey: key, certificatePath: certPath, keyPath: keyPath,
            wasCreated: true)
        owned = false
        return authority
    }

    /// The self-signed CA certificate for `key`.
    private static func makeCertificate(key: OpaquePointer) throws -> OpaquePointer {
        guard let cert = X509_new() else { throw OpenSSLError.drain("X509_new") }
        do {
            guard X509_set_version(cert, Int(X509_VERSION_3)) == 1 else {
                throw OpenSSLError.drain("X509_set_version")
            }
            try X509Support.setRandomSerial(cert)
            guard X509_gmtime_adj(X509_getm_notBefore(cert), -3600) != nil,
                  X509_time_adj_ex(X509_getm_notAfter(cert), validityDays, 0, nil) != nil
            else { throw OpenSSLError.drain("setting the validity") }
            let name = try X509Support.makeName(commonName: caCommonName(), organization: "Veil")
            defer { X509_NAME_free(name) }
            guard X509_set_subject_name(cert, name) == 1, X509_set_issuer_name(cert, name) == 1
            else { throw OpenSSLError.drain("setting the CA name") }
            guard X509_set_pubkey(cert, key) == 1 else { throw OpenSSLError.drain("X509_set_pubkey") }
            for (nid, value) in [(NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                                 (NID_key_usage, "critical,keyCertSign,cRLSign"),
                                 (NID_subject_key_identifier, "hash")] {
                let ext = try X509Support.makeExtension(nid: nid, value: value, issuer: cert, subject: cert)
                defer { X509_EXTENSION_free(ext) }
                guard X509_add_ext(cert, ext, -1) == 1 else { throw OpenSSLError.drain("X509_add_ext") }
            }
            guard X509_sign(cert, key, X509Support.signingDigest(for: key)) > 0 else {
                throw OpenSSLError.drain("X509_sign (CA)")
            }
            return cert
        } catch {
            X509_free(cert)
            throw error
        }
    }

    /// `Veil CA <short host name>`, or `Veil CA <8 random hex digits>` without a host name.
    private static func caCommonName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        var host = ""
        if gethostname(&buffer, buffer.count - 1) == 0 {
            host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                          as: UTF8.self)
            if let dot = host.firstIndex(of: ".") { host = String(host[..<dot]) }
            host = String(host.filter { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        }
        if host.isEmpty || host == "localhost" {
            var random = [UInt8](repeating: 0, count: 4)
            if RAND_bytes(&random, 4) != 1 {
                random = (0..<4).map { _ in UInt8.random(in: 0...255) }
            }
            host = random.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        }
        return String(("Veil CA " + host).prefix(64))
    }
}

// MARK: - OpenSSL helpers shared by the CA and the minter

enum X509Support {
    /// A fresh EC P-256 key (`EVP_PKEY*`, owned by the caller).
    static func generateP256Key() throws -> OpaquePointer {
        guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else {
            throw OpenSSLError.drain("EVP_PKEY_CTX_new_id(EC)")
        }
        defer { EVP_PKEY_CTX_free(ctx) }
        guard EVP_PKEY_keygen_init(ctx) > 0 else { throw OpenSSLError.drain("EVP_PKEY_keygen_init") }
        guard EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) > 0 else {
            throw OpenSSLError.drain("EVP_PKEY_CTX_set_ec_paramgen_curve_nid")
        }
        var key: OpaquePointer?
        guard EVP_PKEY_keygen(ctx, &key) > 0, let key else { throw OpenSSLError.drain("EVP_PKEY_keygen") }
        return key
    }

    /// The digest to sign with `key`: SHA-256, or none for Ed25519/Ed448 (which hash internally).
    static func signingDigest(for key: OpaquePointer) -> OpaquePointer? {
        let type = EVP_PKEY_get_base_id(key)
        if type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448 { return nil }
        return EVP_sha256()
    }

    /// A random positive 16-byte serial number (top bit clear, second-highest set so that the
    /// encoding is always exactly 16 bytes).
    static func setRandomSerial(_ cert: OpaquePointer) throws {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw OpenSSLError.drain("RAND_bytes") }
        bytes[0] = (bytes[0] & 0x7f) | 0x40
        guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw OpenSSLError.drain("BN_bin2bn") }
        defer { BN_free(bn) }
        guard let serial = BN_to_ASN1_INTEGER(bn, nil) else { throw OpenSSLError.drain("BN_to_ASN1_INTEGER") }
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_serialNumber(cert, serial) == 1 else { throw OpenSSLError.drain("X509_set_serialNumber") }
    }

    /// `CN=commonName[, O=organization]` (`X509_NAME*`, owned by the caller).
    static func makeName(commonName: String, organization: String?) throws -> OpaquePointer {
        guard let name = X509_NAME_new() else { throw OpenSSLError.drain("X509_NAME_new") }
        var entries = [(NID_commonName, commonName)]
        if let organization { entries.append((NID_organizationName, organization)) }
        for (nid, value) in entries {
            let added = value.withCString { text in
                text.withMemoryRebound(to: UInt8.self, capacity: value.utf8.count + 1) { bytes in
                    X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, bytes, -1, -1, 0)
                }
            }
            guard added == 1 else {
                X509_NAME_free(name)
                throw OpenSSLError.drain("X509_NAME_add_entry_by_NID(\(value))")
            }
        }
        return name
    }

    /// `CN=Veil CA host, O=Veil` style text for an `X509_NAME*`.
    static func nameString(_ name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        // ASN1_STRFLGS_RFC2253 (a macro of macros Swift does not import), ", " between RDNs,
        // short field names: `CN=Veil CA host, O=Veil`.
        let rfc2253 = UInt(ASN1_STRFLGS_ESC_2253) | UInt(ASN1_STRFLGS_ESC_CTRL) | UInt(ASN1_STRFLGS_ESC_MSB)
            | UInt(ASN1_STRFLGS_UTF8_CONVERT) | UInt(ASN1_STRFLGS_DUMP_UNKNOWN) | UInt(ASN1_STRFLGS_DUMP_DER)
        let flags = rfc2253 | UInt(XN_FLAG_SEP_CPLUS_SPC) | UInt(XN_FLAG_FN_SN)
        guard X509_NAME_print_ex(bio, name, 0, flags) >= 0 else {
            OpenSSLError.drainQueue()
            return ""
        }
        return String(decoding: readAll(bio), as: UTF8.self)
    }

    /// An extension built from OpenSSL config syntax (`X509_EXTENSION*`, owned by the caller).
    static func makeExtension(nid: Int32, value: String, issuer: OpaquePointer?,
                              subject: OpaquePointer?) throws -> OpaquePointer {
        var ctx = X509V3_CTX()
        X509V3_set_ctx(&ctx, issuer, subject, nil, nil, 0)
        guard let ext = X509V3_EXT_conf_nid(nil, &ctx, nid, value) else {
            throw OpenSSLError.drain("extension \(String(cString: OBJ_nid2sn(nid))) = \(value)")
        }
        return ext
    }

    /// Seconds since the Unix epoch of an `ASN1_TIME`.
    static func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> Int64? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else {
            OpenSSLError.drainQueue()
            return nil
        }
        return Int64(timegm(&parts))
    }

    /// `2035-11-19 21:30:00 UTC`.
    static func humanTime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "\(seconds)" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// PEM text of an `X509*`.
    static func pem(_ cert: OpaquePointer) throws -> String {
        String(decoding: try pemBytes(cert), as: UTF8.self)
    }

    static func pemBytes(_ cert: OpaquePointer) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.drain("BIO_new") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_X509(bio, cert) == 1 else { throw OpenSSLError.drain("PEM_write_bio_X509") }
        return readAll(bio)
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), unencrypted.
    static func pemBytes(privateKey: OpaquePointer) throws -> [UInt8] {
        guard let bio = BIO_new(BIO_s_mem()) else { throw OpenSSLError.drain("BIO_new") }
        defer { BIO_free(bio) }
        guard PEM_write_bio_PrivateKey(bio, privateKey, nil, nil, 0, nil, nil) == 1 else {
            throw OpenSSLError.drain("PEM_write_bio_PrivateKey")
        }
        return readAll(bio)
    }

    /// The first certificate in PEM `bytes` (`X509*`, owned by the caller), or nil (errors queued).
    static func parseCertificate(_ bytes: [UInt8]) -> OpaquePointer? {
        bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, { _, _, _, _ in 0 }, nil)
        }
    }

    /// The private key in PEM `bytes` (`EVP_PKEY*`, owned by the caller), or nil. Encrypted keys
    /// are refused (the password callback supplies nothing) rather than prompting on a terminal.
    static func parsePrivateKey(_ bytes: [UInt8]) -> OpaquePointer? {
        bytes.withUnsafeBytes { raw -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, { _, _, _, _ in 0 }, nil)
        }
    }

    /// Everything buffered in a memory BIO.
    static func readAll(_ bio: OpaquePointer) -> [UInt8] {
        let pending = Int(BIO_ctrl_pending(bio))
        guard pending > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: pending)
        let n = BIO_read(bio, &out, Int32(pending))
        return n > 0 ? Array(out.prefix(Int(n))) : []
    }
}

// MARK: - Files

enum FileSupport {
    static let maxFileSize = 1 << 20

    static func describeErrno(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Creates `path` (and missing parents) with mode 0700; an existing directory is left as is.
    static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw CertificateAuthorityError(.directory, path: path,
                                                "\(path) exists but is not a directory")
            }
            return
        }
        let code = errno
        guard code == ENOENT else {
            throw CertificateAuthorityError(.directory, path: path,
                                            "cannot access \(path): \(describeErrno(code))")
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            let code = errno
            throw CertificateAuthorityError(.directory, path: path,
                                            "cannot create \(path): \(describeErrno(code))")
        }
    }

    /// Whether `path` exists (ENOENT -> false; any other stat failure throws).
    static func exists(_ path: String) throws -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw CertificateAuthorityError(.unreadable, path: path,
                                        "cannot access \(path): \(describeErrno(code))")
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot read \(path): \(describeErrno(code))")
        }
        defer { close(fd) }
        return try read(fd, path: path)
    }

    /// Reads a private key file, refusing it (like ssh) when group or others have any access.
    static func readPrivateFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot read \(path): \(describeErrno(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot stat \(path): \(describeErrno(code))")
        }
        let mode = info.st_mode & 0o7777
        if mode & 0o077 != 0 {
            var octal = String(mode, radix: 8)
            while octal.count < 4 { octal = "0" + octal }
            let file = path.split(separator: "/").last.map(String.init) ?? path
            throw CertificateAuthorityError(.insecureKeyPermissions, path: path, """
                \(file) is accessible by others (mode \(octal)); run chmod 600 \(path)
                """)
        }
        return try read(fd, path: path)
    }

    private static func read(_ fd: Int32, path: String) throws -> [UInt8] {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot stat \(path): \(describeErrno(code))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CertificateAuthorityError(.unreadable, path: path, "\(path) is not a regular file")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw CertificateAuthorityError(.unreadable, path: path,
                                                "cannot read \(path): \(describeErrno(code))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk.prefix(n))
            if out.count > maxFileSize {
                throw CertificateAuthorityError(.unreadable, path: path,
                                                "\(path) is larger than \(maxFileSize) bytes")
            }
        }
        return out
    }

    /// Creates a new file (O_EXCL: never replaces one) with exactly `mode`, writes `contents`
    /// and fsyncs it. On failure the partly written file is removed again.
    static func createExclusive(_ path: String, mode: mode_t, contents: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else {
            let code = errno
            let hint = code == EEXIST ? " (it appeared while Veil was creating the CA; is another Veil starting?)" : ""
            throw CertificateAuthorityError(.creation, path: path,
                                            "cannot create \(path): \(describeErrno(code))\(hint)")
        }
        var failure: Int32 = 0
        if fchmod(fd, mode) != 0 { failure = errno }
        var written = 0
        while failure == 0 && written < contents.count {
            let n = contents.withUnsafeBytes { raw in
                write(fd, raw.baseAddress! + written, raw.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
            } else {
                written += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            unlink(path)
            throw CertificateAuthorityError(.creation, path: path,
                                            "cannot write \(path): \(describeErrno(failure))")
        }
    }
}
