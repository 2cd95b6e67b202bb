import VeilRuntime
import VeilTLS

extension MixedRelayMachine {
    /// What happened. Results are io_uring's: bytes, 0 at the end of a stream, or a negative
    /// errno. `now` is the monotonic clock when the owner took the completion.
    enum Event {
        /// The kTLS switch handed the legs over: the relay starts.
        case start(now: UInt64)
        /// A `.receive` into the userspace leg engine's input completed.
        case received(result: Int32, now: UInt64)
        /// A `.send` of the userspace leg engine's output completed.
        case sent(result: Int32, now: UInt64)
        /// A `.shutdownWrite` on the userspace leg's socket completed.
        case shutDown
        /// A `.receiveRecord` on the kTLS socket completed: `result` bytes of a record of `type`
        /// (the kernel's cmsg) are in `incoming`'s data.
        case recordReceived(result: Int32, type: UInt8, now: UInt64)
        /// A `.sendPlaintext` or `.sendCloseNotify` on the kTLS socket completed.
        case kernelSent(result: Int32, now: UInt64)
        /// A `.shutdownKernelWrite` completed.
        case kernelShutDown
        /// The deadline the machine set has come (the owner checks its grace period first).
        case deadlinePassed(now: UInt64)
    }

    /// What the owner is to do, in order. The userspace leg's socket is the side the relay does
    /// not run on kTLS; the kTLS socket is `MixedRelay.kernelSide`'s.
    enum Action {
        /// recv on the userspace leg's socket into `buffer`'s free room. Completes as `.received`.
        case receive(into: ByteBuffer)
        /// send all of `buffer`'s readable bytes on the userspace leg's socket. Completes as `.sent`.
        case send(from: ByteBuffer)
        /// shutdown(SHUT_WR) on the userspace leg's socket after its queued end is out
        /// (`authenticated`: that end is close_notify; a TLS front carrying the socket is told).
        /// Completes as `.shutDown`.
        case shutdownWrite(authenticated: Bool)
        /// recvmsg of one record on the kTLS socket into `message`. Completes as `.recordReceived`.
        case receiveRecord(into: TLSRecordMessage)
        /// send of plaintext on the kTLS socket (the kernel seals it). Completes as `.kernelSent`.
        case sendPlaintext(UnsafeRawPointer, count: Int)
        /// sendmsg of a close_notify alert record on the kTLS socket. Completes as `.kernelSent`.
        case sendCloseNotify(using: TLSRecordMessage)
        /// shutdown(SHUT_WR) on the kTLS socket. Completes as `.kernelShutDown`.
        case shutdownKernelWrite
        /// The machine's deadline (MonotonicClock nanoseconds).
        case setDeadline(UInt64)
        /// A record-log line (`--record-log records`).
        case logRecord(RecordDirection, TLSRecordSummary)
        /// Something the summary line says.
        case note(InterceptNote)
        /// The connection ends with this reason; nothing follows but record-log lines.
        case close(CloseReason)
    }
}

/// Why the mixed relay ends, as a typed cause; the close reason (token and sentence, byte for
/// byte what the summary line has always said) is built from it here.
enum MixedRelayClose: Equatable {
    /// Both streams ended and both write sides are shut (`authenticated`: either side ended
    /// with close_notify).
    case bothClosed(authenticated: Bool)
    /// A socket operation on a side failed with this result (a negative errno).
    case peerFailed(TransferSide, result: Int32)
    /// The userspace leg's TLS session cannot go on (OpenSSL's reason).
    case sessionFailed(TransferSide, String)
    /// Bytes read from the userspace leg that do not frame as TLS records.
    case invalidTLS(TLSParseError, from: TransferSide)
    /// The kTLS leg's peer sent a fatal alert (its description).
    case alert(TransferSide, UInt8)
    case malformedAlert(TransferSide)
    /// A KeyUpdate on the kTLS leg (`rejected`: the kernel refused the record, EKEYEXPIRED).
    case keyUpdate(TransferSide, rejected: Bool)
    /// Another record the kTLS leg may not carry after the handshake (described).
    case unexpected(TransferSide, String)
    /// No data either way for the idle timeout (seconds).
    case idle(seconds: Double)

    var closeReason: CloseReason {
        switch self {
        case .bothClosed(let authenticated):
            CloseReason(.ok, authenticated ? "both sides closed" : "both sides closed without close_notify")
        case .peerFailed(let side, let result):
            .peerFailed(client: side == .client, result: result)
        case .sessionFailed(let side, let why):
            CloseReason(side.gone, "\(side.name): \(why)")
        case .invalidTLS(let error, let side):
            CloseReason(.handshakeFailed, TransferCloseCause.describe(error, from: side))
        case .alert(let side, let description):
            CloseReason(side.gone, "\(side.name) sent alert fatal \(TLSAlert.name(for: description))")
        case .malformedAlert(let side):
            CloseReason(.error, "\(side.name) sent a malformed alert")
        case .keyUpdate(let side, rejected: true):
            CloseReason(.error, "\(side.name) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented")
        case .keyUpdate(let side, rejected: false):
            CloseReason(.error, "\(side.name) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends")
        case .unexpected(let side, let what):
            CloseReason(.error, "\(side.name) sent a \(what) after the handshake")
        case .idle(let seconds):
            CloseReason(.idleTimeout, "no data either way for \(TransferCloseCause.format(seconds))")
        }
    }
}
