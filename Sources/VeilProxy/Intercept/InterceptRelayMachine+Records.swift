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
/// moved `takeoverAfterBytes` through OpenSSL: short exchanges never pay it. A TLS 1.3 server
/// sends its session tickets after the handshake and only OpenSSL turns them into cached
/// sessions, so the takeover waits for the first ticket, the first upstream data, or about the
/// upstream handshake's duration (2-50 ms), whichever comes first; data moves meanwhile.
///
/// After it: application data is relayed; close_notify is passed on, an EOF without one as a
/// bare FIN (InterceptRelayMachine+Ends); another alert ends the connection with its name; a
/// NewSessionTicket is dropped (one is already cached); a KeyUpdate is applied, and answered with
/// Veil's own when the peer asks; a record that does not authenticate, is too long or malformed,
/// or anything else not allowed here, ends the connection with a fatal alert to its sender.
extension InterceptRelayMachine {
    /// As the relay starts.
    mutating func chooseRecordLayer(_ r: InterceptRelay, _ actions: inout [Action]) {
        guard settings.recordLayer == .veil else {
            useOpenSSLRecords(r, &actions)
            return
        }
        let wait = min(max(settings.upstreamHandshakeNanos, 2_000_000), 50_000_000)
        r.records = .pending(relayed: 0, waitUntil: now &+ wait)
        actions.append(.note(.records("openssl")))  // until the takeover
        r.client.engine.watchKeyUpdates()
        r.upstream.engine.watchKeyUpdates()
        takeOverRecords(r, &actions)
    }

    private func useOpenSSLRecords(_ r: InterceptRelay, _ actions: inout [Action]) {
        actions.append(.note(.records("openssl")))
        r.client.engine.keepRecordsInOpenSSL()
        r.upstream.engine.keepRecordsInOpenSSL()
    }

    /// Moves both sessions onto Veil's record layer when the moment has come.
    mutating func takeOverRecords(_ r: InterceptRelay, _ actions: inout [Action]) {
        guard case .pending(let relayed, let waitUntil) = r.records, relayed >= InterceptRelayMachine.takeoverAfterBytes,
              r.up.sourceOpen, r.down.sourceOpen, r.up.sinkOpen, r.down.sinkOpen else { return }
        let client = r.client.engine
        let upstream = r.upstream.engine
        if upstream.versionCode == 0x0304 && r.upstream.tickets == 0 && now < waitUntil { return }
        guard client.atRecordBoundary, upstream.atRecordBoundary else { return }
        switch (client.recordCiphers(), upstream.recordCiphers()) {
        case (.ciphers(let ctx, let crx), .ciphers(let utx, let urx)):
            client.handOverRecords()
            upstream.handOverRecords()
            r.records = .veil(InterceptRecordCiphers(clientSealer: ctx, clientOpener: crx, upstreamSealer: utx, upstreamOpener: urx))
            actions.append(.note(.records("veil")))
        case (.notNow, _), (_, .notNow):
            break  // again after the next completion
        case (.unsupported(let why), _):
            r.records = .openssl
            actions.append(.note(.recordsNote("client leg: \(why)")))
            useOpenSSLRecords(r, &actions)
        case (_, .unsupported(let why)):
            r.records = .openssl
            actions.append(.note(.recordsNote("upstream leg: \(why)")))
            useOpenSSLRecords(r, &actions)
        }
    }

    /// Opens `src`'s records in place and seals their data into the other leg's output while it
    /// has room for another record. Returns false when the connection closes or an alert is on
    /// its way out.
    mutating func pumpRecords(_ r: InterceptRelay, from src: TransferSide, opener: RecordCipher, sealer: RecordCipher,
                              _ actions: inout [Action]) -> Bool {
        let d = src.outgoing
        let input = r.leg(src).engine.inbound
        let output = r.leg(src.other).engine.outbound
        while r[d].sourceEnd != .closeNotify && r[d].sinkOpen && output.writable >= InterceptRelayMachine.recordRoom {
            switch opener.openNext(in: input) {
            case .incomplete:
                break
            case .failed(let failure):
                sessionFailed(r, src, failure.reason, end: .badRecord, alert: failure.alert, &actions)
                return false
            case .record(let type, let plaintext, let count, let length):
                switch TLSContentType(rawValue: type) {
                case .applicationData:
                    guard count > 0 else { break }
                    // The loop's room check leaves nil for a failed seal only.
                    guard let sealed = sealer.seal(type: TLSContentType.applicationData.rawValue, plaintext, count: count, into: output) else {
                        close(.sealFailed, &actions)
                        return false
                    }
                    r.log?.scanOutput(r.leg(src.other), sealed)
                case .alert:
                    guard count == 2 else {
                        sessionFailed(r, src, "malformed alert", end: .badRecord, alert: RecordFailure.decodeError, &actions)
                        return false
                    }
                    let description = plaintext.load(fromByteOffset: 1, as: UInt8.self)
                    guard description == TLSAlert.Code.closeNotify else {
                        let level = TLSAlert.Level(rawValue: plaintext.load(as: UInt8.self)) ?? .fatal
                        sessionFailed(r, src, "alert \(TLSAlert(level: level, code: description))", end: .alert(description), &actions)
                        return false
                    }
                    passCloseNotify(r, from: src, &actions)
                case .handshake where opener.version == 0x0304:
                    guard postHandshake(r, src, UnsafeRawBufferPointer(start: plaintext, count: count), opener: opener, &actions) else {
                        return false
                    }
                default:
                    sessionFailed(r, src, type == TLSContentType.handshake.rawValue ? "renegotiation (not supported)" : "a record of type \(type) after the handshake",
                                  end: .badRecord, alert: RecordFailure.unexpectedMessage, &actions)
                    return false
                }
                input.consume(length)
                continue
            }
            break
        }
        if !r[d].transportOpen && r[d].sourceEnd != .closeNotify && RecordCipher.wholeRecord(in: input) == 0 {
            // EOF without close_notify (a partial record is dropped): a bare FIN on the other leg.
            passUnauthenticatedEnd(r, from: src, midRecord: input.readable > 0, &actions)
        }
        return true
    }

    /// TLS 1.3 handshake messages after the handshake (tickets, KeyUpdate), all within one record.
    private mutating func postHandshake(_ r: InterceptRelay, _ src: TransferSide, _ bytes: UnsafeRawBufferPointer,
                                        opener: RecordCipher, _ actions: inout [Action]) -> Bool {
        switch opener.receivePostHandshake(bytes) {
        case .failed(let failure):
            sessionFailed(r, src, failure.reason, end: .badRecord, alert: failure.alert, &actions)
            return false
        case .applied(let answer):
            // update_requested: answer before any more data goes to this peer.
            if answer, case .veil(let ciphers) = r.records {
                guard sealOwn(r, src, type: TLSContentType.handshake.rawValue, RecordCipher.keyUpdateAnswer),
                      ciphers.sealer(src).update() else {
                    close(.keyUpdateUnanswered, &actions)
                    return false
                }
            }
            return true
        }
    }

    /// Seals a short record of Veil's own into `side`'s output (after the takeover only).
    func sealOwn(_ r: InterceptRelay, _ side: TransferSide, type: UInt8, _ bytes: [UInt8]) -> Bool {
        guard case .veil(let ciphers) = r.records else { return false }
        let leg = r.leg(side)
        guard let sealed = ciphers.sealer(side).seal(type: type, bytes, into: leg.engine.outbound) else { return false }
        r.log?.scanOutput(leg, sealed)
        return true
    }
}
