internal import CRecordCrypto

/// One HPKE encryption context (RFC 9180 section 5.2, 5.3): the AEAD key, base nonce, exporter
/// secret and the sequence number of the next message. A sender's context only seals, a
/// recipient's only opens (the roles are the caller's to keep). ECH seals the
/// ClientHelloInner with it, and again with the same context after a HelloRetryRequest
/// (RFC 9849 section 6.1.5). Its secrets are zeroed when it goes away.
public final class HPKEContext {
    public let suite: HPKESuite
    private(set) var key: [UInt8]
    private(set) var baseNonce: [UInt8]
    private(set) var exporterSecret: [UInt8]
    /// The next message's sequence number (settable by tests, to reach the RFC's vectors).
    internal(set) public var sequence: UInt64 = 0

    init(suite: HPKESuite, key: [UInt8], baseNonce: [UInt8], exporterSecret: [UInt8]) {
        self.suite = suite
        self.key = key
        self.baseNonce = baseNonce
        self.exporterSecret = exporterSecret
    }

    deinit {
        key.zeroize()
        baseNonce.zeroize()
        exporterSecret.zeroize()
    }

    /// ContextS.Seal(aad, pt): the ciphertext with its tag; the sequence number moves on.
    public func seal(aad: [UInt8], plaintext: [UInt8]) throws(HPKEError) -> [UInt8] {
        let nonce = try nextNonce()
        var out = [UInt8](repeating: 0, count: plaintext.count + HPKESuite.tagLength)
        let n = veil_aead_seal(suite.aead.cipherIndex, key, nonce, aad, aad.count, plaintext, plaintext.count, &out)
        guard n == out.count else { throw .crypto("AEAD seal") }
        sequence += 1
        return out
    }

    /// ContextR.Open(aad, ct): the plaintext, or `.openFailed`; the sequence number moves on
    /// only when the ciphertext authenticates.
    public func open(aad: [UInt8], ciphertext: [UInt8]) throws(HPKEError) -> [UInt8] {
        guard ciphertext.count >= HPKESuite.tagLength else { throw .openFailed }
        let nonce = try nextNonce()
        let length = ciphertext.count - HPKESuite.tagLength
        // At least one byte, so the output pointer is never NULL (EVP reads NULL as "this is aad").
        var out = [UInt8](repeating: 0, count: max(1, length))
        let n = out.withUnsafeMutableBufferPointer { o in
            veil_aead_open(suite.aead.cipherIndex, key, nonce, aad, aad.count, ciphertext, ciphertext.count, o.baseAddress)
        }
        guard n == length else {
            out.zeroize()
            throw .openFailed
        }
        out.removeLast(out.count - length)
        sequence += 1
        return out
    }

    /// Context.Export(exporter_context, L) = LabeledExpand(exporter_secret, "sec", context, L).
    public func export(context: [UInt8], length: Int) throws(HPKEError) -> [UInt8] {
        try HPKELabeledKDF(suiteID: suite.suiteID).expand(prk: exporterSecret, label: "sec", info: context, length: length)
    }

    /// ComputeNonce(seq) = base_nonce xor I2OSP(seq, Nn). The limit is 2^64 - 1 messages here,
    /// below the RFC's 2^96 - 1.
    private func nextNonce() throws(HPKEError) -> [UInt8] {
        guard sequence < UInt64.max else { throw .messageLimitReached }
        var nonce = baseNonce
        for i in 0..<8 {
            nonce[HPKESuite.nonceLength - 1 - i] ^= UInt8(truncatingIfNeeded: sequence >> (8 * UInt64(i)))
        }
        return nonce
    }
}
