internal import COpenSSL
internal import COpenSSLShims
internal import CRecordCrypto
import VeilRuntime

/// What the kernel needs to take over both directions of a socket, or why it cannot.
public enum KernelTLSSwitch: Sendable {
    case keys(transmit: KernelTLSKeys, receive: KernelTLSKeys)
    case unsupported(String)
}

extension TLSEngine {
    /// Derives the keys and next sequence numbers for moving this session onto kTLS now.
    ///
    /// TLS 1.3: keys from the application traffic secrets (HKDF-Expand-Label "key"/"iv");
    /// sequence numbers count records after the handshake: for the server role the final
    /// handshake call's own records (its session tickets) are already application records.
    /// TLS 1.2: keys from the master secret's key block; sequence numbers count records after
    /// each side's change_cipher_spec (its Finished is record 0).
    public func kernelKeys() -> KernelTLSSwitch {
        guard SSL_is_init_finished(ssl) == 1, let c = SSL_get_current_cipher(ssl) else {
            return .unsupported("handshake not finished")
        }
        guard countingRecords else { return .unsupported("record accounting stopped") }
        guard inScanner.atBoundary else { return .unsupported("a partial record is inside OpenSSL") }
        let id = UInt16(truncatingIfNeeded: SSL_CIPHER_get_protocol_id(c))
        let version = versionCode
        guard let (cipher, digest, keyLength) = TLSEngine.kernelCipher(id) else {
            return .unsupported("cipher \(TLSNames.cipherSuite(id)) has no kernel offload")
        }
        let isClient = role == .client
        if version == 0x0304 {
            guard !clientTrafficSecret.isEmpty, !serverTrafficSecret.isEmpty else {
                return .unsupported("traffic secrets not captured")
            }
            let txSeq = isClient ? recordsOut - finalCallOutEnd : recordsOut - finalCallOutStart
            let rxSeq = recordsIn - finalCallInEnd
            guard let clientKeys = TLSEngine.tls13Keys(clientTrafficSecret, digest, keyLength),
                  let serverKeys = TLSEngine.tls13Keys(serverTrafficSecret, digest, keyLength) else {
                return .unsupported("key derivation failed")
            }
            let (tx, rx) = isClient ? (clientKeys, serverKeys) : (serverKeys, clientKeys)
            return .keys(transmit: KernelTLSKeys(version: version, cipher: cipher, key: tx.key, iv: tx.iv, sequence: UInt64(txSeq)),
                         receive: KernelTLSKeys(version: version, cipher: cipher, key: rx.key, iv: rx.iv, sequence: UInt64(rxSeq)))
        }
        guard version == 0x0303 else { return .unsupported("TLS version \(TLSNames.version(version))") }
        var master = [UInt8](repeating: 0, count: 48)
        guard let session = SSL_get_session(ssl),
              SSL_SESSION_get_master_key(session, &master, 48) == 48 else {
            return .unsupported("no master secret")
        }
        var clientRandom = [UInt8](repeating: 0, count: 32)
        var serverRandom = [UInt8](repeating: 0, count: 32)
        _ = SSL_get_client_random(ssl, &clientRandom, 32)
        _ = SSL_get_server_random(ssl, &serverRandom, 32)
        let ivLength = cipher == .chacha20poly1305 ? 12 : 4
        var block = [UInt8](repeating: 0, count: 2 * keyLength + 2 * ivLength)
        guard veil_tls12_key_block(digest, master, 48, clientRandom, serverRandom, &block, block.count) == 1 else {
            return .unsupported("key block derivation failed")
        }
        let clientKey = Array(block[0..<keyLength])
        let serverKey = Array(block[keyLength..<(2 * keyLength)])
        let clientIV = Array(block[(2 * keyLength)..<(2 * keyLength + ivLength)])
        let serverIV = Array(block[(2 * keyLength + ivLength)...])
        let txSeq = UInt64(recordsOutSinceCCS)
        let rxSeq = UInt64(recordsInSinceCCS)
        func fullIV(_ fixed: [UInt8], seq: UInt64) -> [UInt8] {
            guard cipher != .chacha20poly1305 else { return fixed }
            // AES-GCM: salt, then the explicit nonce to start from (unique per record: the
            // sequence number, as the kernel then increments it).
            return fixed + (0..<8).map { UInt8(truncatingIfNeeded: seq >> (8 * (7 - $0))) }
        }
        let (txKey, txIV, rxKey, rxIV) = isClient ? (clientKey, clientIV, serverKey, serverIV)
                                                  : (serverKey, serverIV, clientKey, clientIV)
        return .keys(transmit: KernelTLSKeys(version: version, cipher: cipher, key: txKey, iv: fullIV(txIV, seq: txSeq), sequence: txSeq),
                     receive: KernelTLSKeys(version: version, cipher: cipher, key: rxKey, iv: fullIV(rxIV, seq: rxSeq), sequence: rxSeq))
    }

    /// Stops counting records (once the session stays in userspace for good, or is handed over).
    func stopRecordAccounting() { countingRecords = false }

    static func kernelCipher(_ id: UInt16) -> (KernelTLSKeys.Cipher, String, Int)? {
        switch id {
        case 0x1301, 0xC02B, 0xC02F, 0x009C: return (.aes128gcm, "SHA256", 16)
        case 0x1302, 0xC02C, 0xC030, 0x009D: return (.aes256gcm, "SHA384", 32)
        case 0x1303, 0xCCA8, 0xCCA9: return (.chacha20poly1305, "SHA256", 32)
        default: return nil
        }
    }

    static func tls13Keys(_ secret: [UInt8], _ digest: String, _ keyLength: Int) -> (key: [UInt8], iv: [UInt8])? {
        var key = [UInt8](repeating: 0, count: keyLength)
        var iv = [UInt8](repeating: 0, count: 12)
        guard veil_hkdf_expand_label(digest, secret, secret.count, "key", &key, keyLength) == 1,
              veil_hkdf_expand_label(digest, secret, secret.count, "iv", &iv, 12) == 1 else { return nil }
        return (key, iv)
    }

    /// A key log line from OpenSSL: keeps the TLS 1.3 application traffic secrets (decoded in C:
    /// this runs for every handshake), and passes the line on when a key log is wanted.
    func keyLogged(_ line: UnsafePointer<CChar>) {
        var secret = [UInt8](repeating: 0, count: 64)
        var n = 0
        switch veil_traffic_secret(line, &secret, &n) {
        case 1: clientTrafficSecret = Array(secret[0..<n])
        case 2: serverTrafficSecret = Array(secret[0..<n])
        default: break
        }
        if let onKeyLog { onKeyLog(String(cString: line)) }
    }

    func countOut(_ bytes: UnsafeRawBufferPointer) {
        do {
            try outScanner.feed(bytes) { record throws(TLSParseError) in
                recordsOut += 1
                if record.header.contentType == .changeCipherSpec { recordsOutSinceCCS = 0 } else { recordsOutSinceCCS += 1 }
            }
        } catch {
            countingRecords = false
        }
    }

    func countIn(_ bytes: UnsafeRawBufferPointer) {
        do {
            try inScanner.feed(bytes) { record throws(TLSParseError) in
                recordsIn += 1
                if record.header.contentType == .changeCipherSpec { recordsInSinceCCS = 0 } else { recordsInSinceCCS += 1 }
            }
        } catch {
            countingRecords = false
        }
    }
}

extension KernelTLSKeys {
    /// Decrypts one whole record (header included) that was sealed with these keys at
    /// `sequence`: the check that what would go to the kernel is right. Returns the plaintext
    /// (TLS 1.3: with the inner content type byte last), or nil.
    func openRecord(_ record: [UInt8]) -> [UInt8]? {
        guard record.count > 5 + 16 else { return nil }
        let header = Array(record[0..<5])
        var body = Array(record[5...])
        var seqBytes = (0..<8).map { UInt8(truncatingIfNeeded: sequence >> (8 * (7 - $0))) }
        var nonce = [UInt8](repeating: 0, count: 12)
        var aad: [UInt8]
        if version == 0x0304 || cipher == .chacha20poly1305 {
            for i in 0..<12 { nonce[i] = iv[i] ^ (i >= 4 ? seqBytes[i - 4] : 0) }
            if version == 0x0304 {
                aad = header
            } else {
                let n = body.count - 16
                aad = seqBytes + [header[0], header[1], header[2], UInt8(n >> 8), UInt8(n & 0xff)]
            }
        } else {
            guard body.count > 8 + 16 else { return nil }
            nonce = Array(iv[0..<4]) + Array(body[0..<8])
            body.removeFirst(8)
            let n = body.count - 16
            aad = seqBytes + [header[0], header[1], header[2], UInt8(n >> 8), UInt8(n & 0xff)]
        }
        var out = [UInt8](repeating: 0, count: body.count)
        let n = veil_aead_open(cipher.rawValue, key, nonce, aad, aad.count, body, body.count, &out)
        seqBytes.removeAll()
        return n < 0 ? nil : Array(out[0..<n])
    }
}

extension TLSEngine {
    /// Test hook: which suites and versions this session may negotiate.
    func restrict(tls13Suites: String? = nil, tls12Ciphers: String? = nil, maxVersion: UInt16? = nil) {
        if let tls13Suites { SSL_set_ciphersuites(ssl, tls13Suites) }
        if let tls12Ciphers { SSL_set_cipher_list(ssl, tls12Ciphers) }
        if let maxVersion { _ = veil_SSL_set_max_proto_version(ssl, Int32(maxVersion)) }
    }

    /// Test hook: queue a TLS 1.3 KeyUpdate (asking the peer to update too when `requestPeer`),
    /// sent with the next write.
    func keyUpdate(requestPeer: Bool) -> Bool {
        SSL_key_update(ssl, requestPeer ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) == 1
    }
}
