import VeilTLS

/// Why a transfer (the handshake relay, the splice relay, a plain-http forward) ended: a typed
/// cause, from which the summary line's `close=` token and reason are built, word for word as
/// they always were (integration tests compare them).
enum TransferCloseCause: Sendable, Equatable {
    /// Both directions reached their end and passed it on.
    case bothClosed
    /// A socket operation on `side` failed with `result` (a negative errno).
    case peerFailed(TransferSide, result: Int32)
    /// `side` closed before the TLS handshake was over; `partial`: inside a record.
    case closedDuringHandshake(TransferSide, partial: PartialRecord?)
    /// One side sent an alert during the handshake, then one of them closed or failed.
    case alertThenClosed(sender: TransferSide, alert: String, closer: TransferSide)
    /// `side` sent bytes that are not TLS, or invalid TLS; `firstRecord`: the client's first.
    case invalidTLS(TransferSide, TLSParseError, firstRecord: Bool)
    /// The ClientHello named another host than the CONNECT request.
    case sniMismatch(sni: String, host: String)
    /// A ClientHello held back in fragments outgrew the record buffer.
    case helloTooLarge(capacity: Int)
    /// `side` closed inside a record in the userspace record relay (`--record-log records`).
    case closedMidRecord(TransferSide)
    case handshakeTimeout(seconds: Double)
    case idleTimeout(seconds: Double)
    /// The splice relay's pipes could not be opened (pass-through, kTLS).
    case spliceUnavailable(String)
    /// The plain-http response's pipe could not be opened.
    case responseRelayUnavailable(String)
    /// kTLS: `side` sent a fatal alert, which was passed on.
    case fatalAlertPassedOn(TransferSide, code: UInt8)
    /// kTLS: the kernel refused a record read because `side` rekeyed (EKEYEXPIRED).
    case keyExpired(TransferSide)
    /// kTLS: `side` sent a KeyUpdate (Linux 6.1 cannot rekey).
    case keyUpdate(TransferSide)
    /// kTLS: `side` sent an alert record that is not two bytes.
    case malformedAlert(TransferSide)
    /// kTLS: `side` sent a record of a kind not allowed after the handshake (described).
    case unexpectedRecord(TransferSide, String)
    /// Plain http: the chunked request body is malformed.
    case malformedRequestBody
    /// Plain http: the client closed before its request body was complete.
    case clientClosedMidBody

    /// How much of a record had arrived when its side closed.
    struct PartialRecord: Sendable, Equatable {
        var have: Int
        var of: Int
    }

    /// The summary line's `close=` token and reason.
    var reason: CloseReason {
        switch self {
        case .bothClosed:
            return CloseReason(.ok, "both sides closed")
        case .peerFailed(let side, let result):
            return .peerFailed(client: side == .client, result: result)
        case .closedDuringHandshake(let side, let partial):
            let where_ = partial.map { " (in the middle of a record: \($0.have) of \($0.of) bytes)" } ?? ""
            return CloseReason(side.gone, "\(side.name) closed during the TLS handshake\(where_)")
        case .alertThenClosed(let sender, let alert, let closer):
            return CloseReason(.handshakeFailed, sender == closer ? "\(sender.name) sent alert \(alert) and closed"
                                                                  : "\(sender.name) sent alert \(alert); then the \(closer.name) closed")
        case .invalidTLS(let side, let error, let firstRecord):
            let kind: CloseReason.Kind = side == .client && firstRecord ? .notTLS : .handshakeFailed
            return CloseReason(kind, TransferCloseCause.describe(error, from: side))
        case .sniMismatch(let sni, let host):
            return CloseReason(.sniMismatch, "ClientHello SNI \(sni) differs from CONNECT host \(host) (allow with --allow-sni-mismatch)")
        case .helloTooLarge(let capacity):
            return CloseReason(.handshakeFailed, "client sent a ClientHello in fragments of more than \(capacity) bytes in all")
        case .closedMidRecord(let side):
            return CloseReason(side.gone, "\(side.name) closed in the middle of a record")
        case .handshakeTimeout(let seconds):
            return CloseReason(.handshakeTimeout, "TLS handshake not complete within \(TransferCloseCause.format(seconds))")
        case .idleTimeout(let seconds):
            return CloseReason(.idleTimeout, "no data either way for \(TransferCloseCause.format(seconds))")
        case .spliceUnavailable(let why):
            return CloseReason(.error, "cannot start splice relay: \(why)")
        case .responseRelayUnavailable(let why):
            return CloseReason(.error, "cannot start the response relay: \(why)")
        case .fatalAlertPassedOn(let side, let code):
            return CloseReason(side.gone, "\(side.name) sent alert fatal \(TLSAlert.name(for: code))")
        case .keyExpired(let side):
            return CloseReason(.error, "\(side.name) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented")
        case .keyUpdate(let side):
            return CloseReason(.error, "\(side.name) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends")
        case .malformedAlert(let side):
            return CloseReason(.error, "\(side.name) sent a malformed alert")
        case .unexpectedRecord(let side, let what):
            return CloseReason(.error, "\(side.name) sent a \(what) after the handshake")
        case .malformedRequestBody:
            return CloseReason(.badRequest, "client sent a malformed chunked request body")
        case .clientClosedMidBody:
            return CloseReason(.clientGone, "client closed in the middle of its request body")
        }
    }

    /// "client sent non-TLS data (first byte 0x47)", "upstream sent invalid TLS: truncated ...".
    static func describe(_ error: TLSParseError, from side: TransferSide) -> String {
        let sender: TLSFlowTracker.Side = side == .client ? .client : .server
        if case .notTLS = error { return error.description(from: sender) }
        return "\(side.name) sent invalid TLS: \(error.description(from: sender))"
    }

    /// "15s", "0.5s".
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}

extension TransferSide {
    /// The close token for this side failing or going away.
    var gone: CloseReason.Kind { self == .client ? .clientGone : .upstreamGone }
}
