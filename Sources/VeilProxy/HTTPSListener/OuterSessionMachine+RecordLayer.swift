import VeilTLS

/// Veil's own record layer for an outer session that stays in userspace (no kTLS), as for
/// intercepted legs: OpenSSL is given whole records until 64 KiB have moved and the session sits
/// at a record boundary; then the peer's records are opened in place (their plaintext goes to
/// the bridge) and bridge bytes are sealed straight into the engine's output. close_notify ends
/// the peer's side, another alert the connection; tickets are dropped, a KeyUpdate rekeys (and
/// is answered when asked for); a record that does not authenticate, is too long, malformed or
/// not allowed here is answered with a fatal alert. The summary says `front_records=` (listener)
/// or `tunnel_records=` (tunnel).
extension OuterSessionMachine {
    /// Moves the session onto Veil's record layer when the moment has come.
    mutating func takeOverRecords(_ r: OuterRelay, _ e: TLSEngine, _ actions: inout [Action]) {
        guard r.opensslRelayed >= OuterSessionMachine.takeoverAfterBytes, r.outerInputOpen, r.down.sourceOpen,
              r.down.sinkOpen, e.atRecordBoundary else { return }
        switch e.recordCiphers() {
        case .ciphers(let tx, let rx):
            e.handOverRecords()
            r.records = .veil(e, sealer: tx, opener: rx)
            actions.append(.noteRecords("veil", note: nil))
        case .notNow:
            break
        case .unsupported(let why):
            e.keepRecordsInOpenSSL()
            r.records = .openssl(e, takeover: .never)
            actions.append(.noteRecords("openssl", note: why))
        }
    }

    /// Outer -> bridge after the takeover: the next data record's plaintext into the up buffer.
    /// Returns false when nothing could be taken (then read more, or pass the close on); true
    /// when plaintext is ready or the session failed.
    mutating func openRecord(_ r: OuterRelay, _ e: TLSEngine, _ sealer: RecordCipher, _ opener: RecordCipher,
                             _ actions: inout [Action]) -> Bool {
        let input = e.inbound
        while true {
            switch opener.openNext(in: input) {
            case .incomplete:
                return false
            case .failed(let failure):
                failOuter(r, .refusedRecord(failure), end: .badRecord, alert: failure.alert, &actions)
                return true
            case .record(let type, let plaintext, let count, let length):
                switch type {
                case TLSContentType.applicationData.rawValue:
                    guard count > 0 else { break }
                    r.upBuffer.copyMemory(from: plaintext, byteCount: count)
                    r.upBase = UnsafeRawPointer(r.upBuffer)
                    r.upFilled = count
                    r.upSent = 0
                    input.consume(length)
                    return true
                case TLSContentType.alert.rawValue:
                    guard count == 2 else {
                        failOuter(r, .malformedAlert, end: .badRecord, alert: RecordFailure.decodeError, &actions)
                        return true
                    }
                    let code = plaintext.load(fromByteOffset: 1, as: UInt8.self)
                    guard code == 0 else {
                        outerEnded(r, .alert(code), &actions)
                        close(.alert(code), &actions)
                        return true
                    }
                    input.consume(length)
                    outerEnded(r, .closeNotify, &actions)
                    return false
                case TLSContentType.handshake.rawValue where opener.version == 0x0304:
                    switch opener.receivePostHandshake(UnsafeRawBufferPointer(start: plaintext, count: count)) {
                    case .failed(let failure):
                        failOuter(r, .refusedRecord(failure), end: .badRecord, alert: failure.alert, &actions)
                        return true
                    case .applied(let answer):
                        if answer {
                            guard sealer.seal(type: TLSContentType.handshake.rawValue, RecordCipher.keyUpdateAnswer,
                                              into: e.outbound) != nil, sealer.update() else {
                                close(.keyUpdateAnswer, &actions)
                                return true
                            }
                        }
                    }
                default:
                    failOuter(r, .unexpectedRecordType(type), end: .badRecord, alert: RecordFailure.unexpectedMessage,
                              &actions)
                    return true
                }
                input.consume(length)
            }
        }
    }

    /// The outer session cannot go on. For a record Veil (`alert`, sealed here with the session's
    /// keys) or OpenSSL (queued already) refused, the fatal alert goes out first, within a
    /// second; the connection behind the session ends at once.
    mutating func failOuter(_ r: OuterRelay, _ failure: OuterSessionFailure, end: StreamEnd, alert: UInt8?,
                            _ actions: inout [Action]) {
        outerEnded(r, end, &actions)
        var reason = failure.closeReason(peer: peer)
        if let alert, case .veil(let e, let sealer, _) = r.records, r.down.sinkOpen,
           sealer.seal(type: TLSContentType.alert.rawValue, [TLSAlert.Level.fatal.rawValue, alert], into: e.outbound) != nil {
            reason.reason += " (sent alert fatal \(TLSAlert.name(for: alert)))"
        }
        guard end == .badRecord, relaying, !r.down.sinkClosing, let e = r.records.engine, e.outbound.readable > 0 else {
            close(reason, &actions)
            return
        }
        state = .alerting(r, reason)
        actions.append(.setDeadline(.after(nanoseconds: OuterSessionMachine.alertNanos)))
        actions.append(.endConnection(reason))
        flushOuter(r, e, &actions)
    }
}
