#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL

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
        try CertificateAuthorityFiles.makeDirectory(directory)
        let certPath = directory + "/" + certificateFileName
        let keyPath = directory + "/" + keyFileName
        let certExists = try CertificateAuthorityFiles.exists(certPath)
        let keyExists = try CertificateAuthorityFiles.exists(keyPath)
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
        let keyBytes = try CertificateAuthorityFiles.readPrivateFile(keyPath)
        let certBytes = try CertificateAuthorityFiles.readFile(certPath)
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
        try CertificateAuthorityFiles.createExclusive(keyPath, mode: 0o600, contents: keyPEM)
        do {
            try CertificateAuthorityFiles.createExclusive(certPath, mode: 0o644, contents: certPEM)
        } catch {
            CertificateAuthorityFiles.remove(keyPath)
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
