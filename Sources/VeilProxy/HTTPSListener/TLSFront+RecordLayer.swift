import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// Veil's own record layer for the outer session of the HTTPS listener and of relay tunnels,
/// where it stays in userspace (no kTLS): as for intercepted legs (Connection+RecordLayer),
/// OpenSSL is given whole records until 64 KiB have moved and the session sits at a record
/// boundary; then client records are opened in place (their plaintext goes to the bridge) and
/// bridge bytes are sealed straight into the engine's output. close_notify ends the client side,
/// another alert the connection; tickets are dropped, a KeyUpdate rekeys (and is answered when
/// asked for); a record that does not authenticate, is too long, malformed or not allowed here is
/// answered with a fatal alert. The summary says `front_records=` (listener) or
/// `tunnel_records=` (tunnel).
extension TLSFront {
    /// Called where the userspace relay starts.
    func startUserspaceRecords(_ e: TLSEngine) {
        if config.recordLayer == .veil {
            takeoverPending = true
            e.watchKeyUpdates()
        } else {
            useOpenSSLRecords(e)
        }
        noteRecords("openssl")  // until the takeover
    }

    private func useOpenSSLRecords(_ e: TLSEngine) {
        takeoverPending = false
        e.keepRecordsInOpenSSL()
    }

    /// The summary field for the outer session's records.
    private func noteRecords(_ what: String, note: String? = nil) {
        guard let c = connection else { return }
        if adoptedTunnel {
            c.summary.tunnelRecords = what
            if let note { c.summary.tunnelRecordsNote = note }
        } else {
            c.summary.front?.records = what
            if let note { c.summary.front?.recordsNote = note }
        }
    }

    /// Moves the session onto Veil's record layer when the moment has come.
    func takeOverRecords(_ e: TLSEngine) {
        guard takeoverPending, opensslRelayed >= Connection.takeoverAfterBytes, !clientDone, !bridgeDone,
              !closeQueued, e.atRecordBoundary else { return }
        switch e.recordCiphers() {
        case .ciphers(let tx, let rx):
            e.handOverRecords()
            sealer = tx
            opener = rx
            takeoverPending = false
            noteRecords("veil")
        case .notNow:
            break
        case .unsupported(let why):
            useOpenSSLRecords(e)
            noteRecords("openssl", note: why)
        }
    }

    /// Client -> bridge after the takeover: the next data record's plaintext into `up`.
    /// Returns false when nothing could be taken (then read more, or pass the close on).
    func openClientRecord(_ e: TLSEngine, _ opener: RecordCipher) -> Bool {
        guard let up else { return false }
        let input = e.inbound
        while true {
            switch opener.openNext(in: input) {
            case .incomplete:
                return false
            case .failed(let failure):
                failOuter(CloseReason(peerGone, "\(peerName): \(failure.reason)"), end: .badRecord, alert: failure.alert)
                return true
            case .record(let type, let plaintext, let count, let length):
                switch type {
                case 23:
                    guard count > 0 else { break }
                    up.copyMemory(from: plaintext, byteCount: count)
                    upFilled = count
                    upSent = 0
                    input.consume(length)
                    return true
                case 21:
                    guard count == 2 else {
                        failOuter(CloseReason(peerGone, "\(peerName) sent a malformed alert"), end: .badRecord,
                                  alert: RecordFailure.decodeError)
                        return true
                    }
                    let code = plaintext.load(fromByteOffset: 1, as: UInt8.self)
                    guard code == 0 else {
                        noteOuterEnd(.alert(code))
                        finish(CloseReason(peerGone, "\(peerName) sent alert \(TLSAlert.name(for: code))"))
                        return true
                    }
                    input.consume(length)
                    clientDone = true
                    noteOuterEnd(.closeNotify)
                    return false
                case 22 where opener.version == 0x0304:
                    switch opener.receivePostHandshake(UnsafeRawBufferPointer(start: plaintext, count: count)) {
                    case .failed(let failure):
                        failOuter(CloseReason(peerGone, "\(peerName): \(failure.reason)"), end: .badRecord, alert: failure.alert)
                        return true
                    case .applied(let answer):
                        if answer {
                            guard let sealer, sealToClient(22, RecordCipher.keyUpdateAnswer), sealer.update() else {
                                finish(CloseReason(.error, "cannot answer the \(peerName)'s KeyUpdate"))
                                return true
                            }
                        }
                    }
                default:
                    failOuter(CloseReason(peerGone, "\(peerName) sent a record of type \(type) after the handshake"),
                              end: .badRecord, alert: RecordFailure.unexpectedMessage)
                    return true
                }
                input.consume(length)
            }
        }
    }

    /// Seals a record of `type` into the engine's output; false when there is no room.
    @discardableResult
    func sealToClient(_ type: UInt8, _ bytes: UnsafeRawPointer, count: Int) -> Bool {
        guard let e = engine else { return false }
        return sealer?.seal(type: type, bytes, count: count, into: e.outbound) != nil
    }

    @discardableResult
    func sealToClient(_ type: UInt8, _ bytes: [UInt8]) -> Bool {
        guard let e = engine else { return false }
        return sealer?.seal(type: type, bytes, into: e.outbound) != nil
    }

    /// How the client (or, for a tunnel, the relay) ended the outer session, for the summary
    /// (the connection's, or the line waiting for this front once the connection has ended).
    func noteOuterEnd(_ end: StreamEnd) {
        if let c = connection {
            note(end, in: &c.summary)
        } else if let p = pendingSummary {
            note(end, in: &p.summary)
        }
    }

    private func note(_ end: StreamEnd, in summary: inout ConnectionSummary) {
        if adoptedTunnel {
            if summary.tunnelEnd == nil { summary.tunnelEnd = end }
        } else if summary.front != nil && summary.front?.end == nil {
            summary.front?.end = end
        }
    }

    /// The outer session cannot go on. For a record Veil (`alert`, sealed here with the session's
    /// keys) or OpenSSL (queued already) refused, the fatal alert goes out first, within a second;
    /// the connection behind the front ends at once.
    func failOuter(_ reason: CloseReason, end: StreamEnd, alert: UInt8? = nil) {
        noteOuterEnd(end)
        var reason = reason
        if let alert, sealer != nil, !closeQueued, sealToClient(21, [2, alert]) {
            reason.reason += " (sent alert fatal \(TLSAlert.name(for: alert)))"
        }
        guard end == .badRecord, phase == .relay, !clientWriteShut, !clientShutting,
              let e = engine, e.outbound.readable > 0 else {
            finish(reason)
            return
        }
        failure = reason
        phase = .alerting
        loop.setDeadline(handle, MonotonicClock.now() + 1_000_000_000)
        if let c = connection { c.finish(c.closingReason ?? reason) }
        flushClient()
    }
}
