#if canImport(Glibc)
import Glibc
#endif
internal import COpenSSL

/// OpenSSL helpers shared by the CA and the minter.
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
