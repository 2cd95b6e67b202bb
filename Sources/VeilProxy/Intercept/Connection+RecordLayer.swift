import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// Veil's own record layer for the userspace relay (no kTLS): once both handshakes are done and
/// OpenSSL holds nothing, a leg's records are opened where they were received and sealed
/// straight into the other leg's send buffer (`RecordCipher`), instead of SSL_read into a
/// plaintext buffer and SSL_write out of it: no copies in userspace and no libssl per record.
///
/// Until the takeover the relay runs on OpenSSL, reading whole records only (no read-ahead), so
/// that the takeover finds both sessions at a record boundary. The takeover costs about 0.1 M
/// instructions (key derivation and four cipher contexts), so it waits until a connection has
/// moved `takeoverAfterBytes` through OpenSSL: short exchanges never pay it. A TLS 1.3 server sends its
/// session tickets after the handshake and only OpenSSL turns them into cached sessions, so the
/// takeover waits for the first ticket, the first upstream data, or about the upstream
/// handshake's duration (2-50 ms), whichever comes first; data moves meanwhile.
///
/// After it: application data is relayed; close_notify is passed on, an EOF without one as a
/// bare FIN (Connection+Ends); another alert ends the connection with its name; a
/// NewSessionTicket is dropped (one is already cached); a KeyUpdate is applied, and answered with
/// Veil's own when the peer asks; a record that does not authenticate, is too long or malformed,
/// or anything else not allowed here, ends the connection with a fatal alert to its sender.
extension Connection {
    enum RecordLayer {
        /// SSL_read / SSL_write for the whole connection.
        case openssl
        /// On OpenSSL until `takeOverRecords` finds the moment.
        case pending
        /// Veil's `RecordCipher`s on both legs.
        case veil
    }

    /// Plaintext relayed through OpenSSL before Veil's record layer takes over.
    static let takeoverAfterBytes = 64 << 10

    /// Called as the userspace relay starts.
    func chooseRecordLayer(client: TLSLeg, upstream: TLSLeg) {
        if config.recordLayer == .veil {
            recordLayer = .pending
            summary.records = "openssl"  // until the takeover
            client.engine.watchKeyUpdates()
            upstream.engine.watchKeyUpdates()
            takeoverDeadline = MonotonicClock.now() + min(max(upstreamHandshakeNanos, 2_000_000), 50_000_000)
            takeOverRecords(client: client, upstream: upstream)
        }
        if recordLayer == .openssl { useOpenSSLRecords(client: client, upstream: upstream) }
    }

    private func useOpenSSLRecords(client: TLSLeg, upstream: TLSLeg) {
        summary.records = "openssl"
        client.engine.keepRecordsInOpenSSL()
        upstream.engine.keepRecordsInOpenSSL()
    }

    /// Moves both sessions onto Veil's record layer when the moment has come.
    func takeOverRecords(client: TLSLeg, upstream: TLSLeg) {
        guard recordLayer == .pending, opensslRelayed >= Connection.takeoverAfterBytes,
              !client.sourceDone, !upstream.sourceDone, !client.closeQueued, !upstream.closeQueued else { return }
        if upstream.engine.versionCode == 0x0304 && upstream.tickets == 0 && !upstreamDataSeen
            && MonotonicClock.now() < takeoverDeadline { return }
        guard client.engine.atRecordBoundary, upstream.engine.atRecordBoundary else { return }
        switch (client.engine.recordCiphers(), upstream.engine.recordCiphers()) {
        case (.ciphers(let ctx, let crx), .ciphers(let utx, let urx)):
            client.engine.handOverRecords()
            upstream.engine.handOverRecords()
            client.sealer = ctx
            client.opener = crx
            upstream.sealer = utx
            upstream.opener = urx
            recordLayer = .veil
            summary.records = "veil"
        case (.notNow, _), (_, .notNow):
            break  // again after the next completion
        case (.unsupported(let why), _):
            recordLayer = .openssl
            summary.recordsNote = "client leg: \(why)"
            useOpenSSLRecords(client: client, upstream: upstream)
        case (_, .unsupported(let why)):
            recordLayer = .openssl
            summary.recordsNote = "upstream leg: \(why)"
            useOpenSSLRecords(client: client, upstream: upstream)
        }
    }

    /// Opens `src`'s records in place and seals their data into `dst`'s output while it has room
    /// for another record.
    func pumpRecords(from src: TLSLeg, to dst: TLSLeg, opener: RecordCipher, sealer: RecordCipher) {
        let input = src.engine.inbound
        let output = dst.engine.outbound
        let logAll = config.recordLog == .records
        while !src.closeNotify && !dst.closeQueued && output.writable >= Connection.recordRoom {
            switch opener.openNext(in: input) {
            case .incomplete:
                break
            case .failed(let failure):
                legFailed(src, failure.reason, end: .badRecord, alert: failure.alert)
                return
            case .record(let type, let plaintext, let count, let length):
                switch TLSContentType(rawValue: type) {
                case .applicationData:
                    guard count > 0 else { break }
                    // The loop's room check leaves nil for a failed seal only.
                    guard let sealed = sealer.seal(type: TLSContentType.applicationData.rawValue, plaintext, count: count, into: output) else {
                        finish(CloseReason(.error, "internal: sealing a record failed"))
                        return
                    }
                    if logAll { scan(dst, sealed, inbound: false) }
                case .alert:
                    guard count == 2 else {
                        legFailed(src, "malformed alert", end: .badRecord, alert: RecordFailure.decodeError)
                        return
                    }
                    let description = plaintext.load(fromByteOffset: 1, as: UInt8.self)
                    guard description == TLSAlert.Code.closeNotify else {
                        let level = TLSAlert.Level(rawValue: plaintext.load(as: UInt8.self)) ?? .fatal
                        legFailed(src, "alert \(TLSAlert(level: level, code: description))", end: .alert(description))
                        return
                    }
                    passCloseNotify(from: src, to: dst)
                case .handshake where opener.version == 0x0304:
                    guard postHandshake(src, UnsafeRawBufferPointer(start: plaintext, count: count), opener: opener) else { return }
                default:
                    legFailed(src, type == TLSContentType.handshake.rawValue ? "renegotiation (not supported)" : "a record of type \(type) after the handshake",
                              end: .badRecord, alert: RecordFailure.unexpectedMessage)
                    return
                }
                input.consume(length)
                continue
            }
            break
        }
        if src.eof && !src.closeNotify && RecordCipher.wholeRecord(in: input) == 0 {
            // EOF without close_notify (a partial record is dropped): a bare FIN on the other leg.
            passUnauthenticatedEnd(from: src, to: dst, midRecord: input.readable > 0)
        }
    }

    /// TLS 1.3 handshake messages after the handshake (tickets, KeyUpdate), all within one record.
    private func postHandshake(_ src: TLSLeg, _ bytes: UnsafeRawBufferPointer, opener: RecordCipher) -> Bool {
        switch opener.receivePostHandshake(bytes) {
        case .failed(let failure):
            legFailed(src, failure.reason, end: .badRecord, alert: failure.alert)
            return false
        case .applied(let answer):
            // update_requested: answer before any more data goes to this peer.
            if answer, let sealer = src.sealer {
                guard sealOwn(src, type: TLSContentType.handshake.rawValue, RecordCipher.keyUpdateAnswer), sealer.update() else {
                    finish(CloseReason(.error, "cannot answer a KeyUpdate"))
                    return false
                }
            }
            return true
        }
    }

    /// Seals a short record of Veil's own into `leg`'s output.
    func sealOwn(_ leg: TLSLeg, type: UInt8, _ bytes: [UInt8]) -> Bool {
        guard let sealed = leg.sealer?.seal(type: type, bytes, into: leg.engine.outbound) else { return false }
        if config.recordLog == .records { scan(leg, sealed, inbound: false) }
        return true
    }
}
