internal import COpenSSL

extension TLSEngine {
    /// Whether Veil's own record layer can take this session over from OpenSSL.
    public enum RecordTakeover {
        /// Seal with `transmit`, open with `receive`; OpenSSL must not touch the session again.
        case ciphers(transmit: RecordCipher, receive: RecordCipher)
        /// Not at this moment: OpenSSL holds part of a record or plaintext not handed out.
        case notNow
        /// Never for this session (cipher, version, or records not accounted).
        case unsupported(String)
    }

    /// Record ciphers for Veil's own record layer (`RecordCipher`) to take the session over now:
    /// the keys and next sequence numbers are those the kTLS switch would install. Only at a
    /// record boundary in both directions, with nothing left inside OpenSSL. Changes nothing:
    /// once they are in use, call `handOverRecords()`.
    public func recordCiphers() -> RecordTakeover {
        guard countingRecords else { return .unsupported("record accounting stopped") }
        guard !keyUpdated else { return .unsupported("a KeyUpdate went through OpenSSL first") }
        guard atRecordBoundary else { return .notNow }
        switch kernelKeys() {
        case .unsupported(let why):
            return .unsupported(why)
        case .keys(let tx, let rx):
            let isClient = role == .client
            let (txSecret, rxSecret) = isClient ? (clientTrafficSecret, serverTrafficSecret)
                                                : (serverTrafficSecret, clientTrafficSecret)
            guard let transmit = RecordCipher(keys: tx, sealing: true, secret: tx.version == 0x0304 ? txSecret : []),
                  let receive = RecordCipher(keys: rx, sealing: false, secret: rx.version == 0x0304 ? rxSecret : []) else {
                return .unsupported("cipher set-up failed")
            }
            return .ciphers(transmit: transmit, receive: receive)
        }
    }

    /// Nothing of a record is inside OpenSSL in either direction, and no plaintext waits there.
    public var atRecordBoundary: Bool {
        inScanner.atBoundary && outScanner.atBoundary && !writePending && SSL_has_pending(ssl) == 0
    }

    /// Watches for TLS 1.3 KeyUpdates OpenSSL handles (either way) until the takeover: after one
    /// the traffic secrets the key log gave are stale, and the session stays with OpenSSL.
    public func watchKeyUpdates(_ watching: Bool = true) {
        guard watching else {
            SSL_set_msg_callback(ssl, nil)
            return
        }
        SSL_set_msg_callback(ssl) { _, _, contentType, buf, len, ssl, _ in
            guard contentType == SSL3_RT_HANDSHAKE, len > 0, let buf, let ssl,
                  buf.load(as: UInt8.self) == 24, let engine = TLSEngine.from(ssl) else { return }
            engine.keyUpdated = true
        }
    }

    /// OpenSSL keeps this session's records for good: no KeyUpdate watch, no record accounting,
    /// and read-ahead (all buffered input at once instead of a header and then a body per
    /// record; the handshake reads record by record so that nothing past it sits inside OpenSSL).
    public func keepRecordsInOpenSSL() {
        watchKeyUpdates(false)
        stopRecordAccounting()
        SSL_set_read_ahead(ssl, 1)
    }

    /// OpenSSL is done with this session's records: stop counting them and mark it shut down
    /// without writing anything.
    public func handOverRecords() {
        watchKeyUpdates(false)
        stopRecordAccounting()
        handOver()
    }
}
