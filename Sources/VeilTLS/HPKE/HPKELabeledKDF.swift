internal import CRecordCrypto

/// HKDF-SHA256 with HPKE's labels (RFC 9180 section 4): LabeledExtract and LabeledExpand for
/// one suite_id ("KEM" + kem_id inside the KEM, "HPKE" + the three ids elsewhere). The HKDF
/// itself is Veil's (CRecordCrypto, the one TLS 1.3 key schedule also uses).
struct HPKELabeledKDF {
    let suiteID: [UInt8]
    private static let version = Array("HPKE-v1".utf8)

    /// suite_id of DHKEM(X25519, HKDF-SHA256): "KEM" || 0x0020.
    static let dhkemX25519 = HPKELabeledKDF(suiteID: Array("KEM".utf8) + [0x00, 0x20])

    /// LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm).
    func extract(salt: [UInt8], label: String, ikm: [UInt8]) throws(HPKEError) -> [UInt8] {
        var labeled = Self.version + suiteID + Array(label.utf8) + ikm
        defer { labeled.zeroize() }
        var prk = [UInt8](repeating: 0, count: HPKESuite.hashLength)
        let ok = salt.withUnsafeBufferPointer { s in
            labeled.withUnsafeBufferPointer { l in
                veil_hkdf_extract("SHA256", s.baseAddress, s.count, l.baseAddress, l.count, &prk)
            }
        }
        guard ok == 1 else { throw .crypto("HKDF-Extract") }
        return prk
    }

    /// LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id ||
    /// label || info, L).
    func expand(prk: [UInt8], label: String, info: [UInt8], length: Int) throws(HPKEError) -> [UInt8] {
        guard length >= 0, length <= 255 * HPKESuite.hashLength else { throw .tooLong(length) }
        let labeled = [UInt8(length >> 8), UInt8(length & 0xff)] + Self.version + suiteID + Array(label.utf8) + info
        var out = [UInt8](repeating: 0, count: length)
        let ok = prk.withUnsafeBufferPointer { p in
            labeled.withUnsafeBufferPointer { l in
                out.withUnsafeMutableBufferPointer { o in
                    veil_hkdf_expand("SHA256", p.baseAddress, p.count, l.baseAddress, l.count, o.baseAddress, length)
                }
            }
        }
        guard ok == 1 else { throw .crypto("HKDF-Expand") }
        return out
    }
}
