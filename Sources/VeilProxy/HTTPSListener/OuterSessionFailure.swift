import VeilRuntime
import VeilTLS

/// Why an outer TLS session (the HTTPS listener's, a relay tunnel's) ended, as a typed cause; the
/// close reason (token and sentence, byte for byte what the summary line has always said) is
/// built from it in one place.
enum OuterSessionFailure: Error, Equatable, Sendable {
    /// The worker has no HTTPS listener set up.
    case noListener
    /// The session's engine could not be created or configured.
    case setUp(String)
    /// A handshake record does not fit the engine's input.
    case handshakeRecordTooLarge
    /// The client closed before the handshake was done.
    case closedDuringHandshake
    /// The client's first bytes are not TLS records (the parse error).
    case notTLS(String)
    /// The client spoke plain HTTP (answered with a readable 400).
    case plainHTTP
    /// OpenSSL refused the client's handshake.
    case handshake(TLSEngine.HandshakeFailure)
    case handshakeTimeout(seconds: Double)
    /// Shutting down: the grace period ended before the handshake did.
    case graceEnded(seconds: Double)
    /// The bridge (socketpair) could not be made ("socketpair: ...").
    case bridge(String)
    /// A socket operation on the TLS side failed with this errno.
    case socket(errno: Int32)
    /// The peer sent a fatal alert (its description code).
    case alert(UInt8)
    /// kTLS: the peer sent a KeyUpdate, which Linux 6.1 cannot follow.
    case kernelKeyUpdate
    /// kTLS: the kernel refused a receive after a KeyUpdate (EKEYEXPIRED).
    case kernelKeyExpired
    /// kTLS: a NewSessionTicket or a malformed alert after the handshake.
    case unexpectedKernelRecord
    /// kTLS: another record that has no place after the handshake (described).
    case unexpectedKernelRecordKind(String)
    /// Veil's record layer refused a record (the fatal alert it gets is in the failure).
    case refusedRecord(RecordFailure)
    /// Veil's record layer: an alert record whose body is not two bytes.
    case malformedAlert
    /// Veil's record layer: the peer's KeyUpdate could not be answered.
    case keyUpdateAnswer
    /// Veil's record layer: a record of a content type not allowed after the handshake.
    case unexpectedRecordType(UInt8)
    /// OpenSSL refused to read on (an alert the peer sent, or a record OpenSSL refused).
    case opensslRead(String)
    /// The peer kept its side open after Veil's end for longer than the linger time.
    case lingerExpired
    /// kTLS: no record message could be allocated.
    case outOfMemory
    /// Both directions ended in order.
    case closed
    /// The connection behind ended the session (the worker closing everything, say).
    case requested(CloseReason)

    /// The close reason on the summary line for a session with `peer` at the other end.
    func closeReason(peer: OuterPeer) -> CloseReason {
        let name = peer.name
        switch self {
        case .noListener: return CloseReason(.error, "no HTTPS listener set-up")
        case .setUp(let why): return CloseReason(.error, "HTTPS listener TLS set-up: \(why)")
        case .handshakeRecordTooLarge: return CloseReason(.handshakeFailed, "HTTPS listener: handshake record too large")
        case .closedDuringHandshake:
            return CloseReason(.clientGone, "client closed during the HTTPS listener's TLS handshake")
        case .notTLS(let why): return CloseReason(.notTLS, "HTTPS listener: client did not speak TLS (\(why))")
        case .plainHTTP: return CloseReason(.notTLS, "HTTPS listener: client spoke plain HTTP")
        case .handshake(let why): return CloseReason(.handshakeFailed, "HTTPS listener: client handshake: \(why)")
        case .handshakeTimeout(let seconds):
            return CloseReason(.handshakeTimeout, "HTTPS listener: TLS handshake not complete within \(Int(seconds))s")
        case .graceEnded(let seconds):
            return CloseReason(.shutdown, "HTTPS listener: TLS handshake not complete when the grace period of \(Int(seconds))s ended")
        case .bridge(let why): return CloseReason(.error, "HTTPS listener: \(why)")
        case .socket(let code):
            switch peer {
            case .listenerClient: return .peerFailed(client: true, result: -code)
            case .relay: return CloseReason(peer.goneKind, "\(name): \(SystemError.message(of: code))")
            }
        case .alert(let code): return CloseReason(peer.goneKind, "\(name) sent alert \(TLSAlert.name(for: code))")
        case .kernelKeyUpdate:
            return CloseReason(.error, "\(name) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS, so the connection ends")
        case .kernelKeyExpired:
            return CloseReason(.error, "\(name) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented")
        case .unexpectedKernelRecord:
            return CloseReason(peer.goneKind, "\(name) sent an unexpected record after the handshake")
        case .unexpectedKernelRecordKind(let what):
            return CloseReason(peer.goneKind, "\(name) sent a \(what) after the handshake")
        case .refusedRecord(let failure): return CloseReason(peer.goneKind, "\(name): \(failure.reason)")
        case .malformedAlert: return CloseReason(peer.goneKind, "\(name) sent a malformed alert")
        case .keyUpdateAnswer: return CloseReason(.error, "cannot answer the \(name)'s KeyUpdate")
        case .unexpectedRecordType(let type):
            return CloseReason(peer.goneKind, "\(name) sent a record of type \(type) after the handshake")
        case .opensslRead(let why): return CloseReason(peer.goneKind, "\(name): \(why)")
        case .lingerExpired: return CloseReason(.ok, "\(name) did not close within 2s of Veil's end")
        case .outOfMemory: return CloseReason(.error, "out of memory")
        case .closed: return CloseReason(.ok, "closed")
        case .requested(let reason): return reason
        }
    }
}
