import VeilRuntime
import VeilTLS

extension InterceptRelayMachine {
    /// What happened. Results are io_uring's: bytes, 0 at the end of a stream, or a negative
    /// errno. `now` is the monotonic clock when the owner took the completion.
    enum Event {
        /// The handshakes are done and the legs handed over: the relay starts.
        case start(now: UInt64)
        /// A `.receive` into a leg engine's input completed.
        case received(TransferSide, result: Int32, now: UInt64)
        /// A `.send` of a leg engine's output completed.
        case sent(TransferSide, result: Int32, now: UInt64)
        /// A `.shutdownWrite` completed.
        case shutDown(TransferSide)
        /// The deadline the machine set has come (the owner checks its grace period first).
        case deadlinePassed(now: UInt64)
    }

    /// What the owner is to do, in order.
    enum Action {
        /// recv on the side's socket into `buffer`'s free room (a leg engine's input). Completes
        /// as `.received`.
        case receive(TransferSide, into: ByteBuffer)
        /// send all of `buffer`'s readable bytes (a leg engine's output). Completes as `.sent`.
        case send(TransferSide, from: ByteBuffer)
        /// shutdown(SHUT_WR) on the side's socket, after the end queued for it is out:
        /// `authenticated` when that end is close_notify (a TLS front carrying the socket is
        /// told). Completes as `.shutDown`.
        case shutdownWrite(TransferSide, authenticated: Bool)
        /// The connection has moved no data for a while: the side's leg gives back the memory it
        /// holds while idle (OpenSSL's record buffers, its engine's empty buffers' pages); what
        /// it needs again is taken when data comes.
        case release(TransferSide)
        /// The same moment: the pages of the plaintext buffer SSL_read fills (nothing stays in
        /// it from one event to the next) go back to the kernel.
        case releaseScratch(UnsafeMutableRawPointer)
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

/// Why the userspace relay ends, as a typed cause; the close reason (token and sentence, byte for
/// byte what the summary line has always said) is built from it here.
enum InterceptRelayClose: Equatable {
    /// Both sides' streams ended and both write sides are shut (`authenticated`: either side
    /// ended with close_notify).
    case bothClosed(authenticated: Bool)
    /// A socket operation on a side failed with this result (a negative errno).
    case peerFailed(TransferSide, result: Int32)
    /// A side's TLS session cannot go on (`why`), and the fatal alert Veil sent it, if any.
    case sessionFailed(TransferSide, String, alertSent: UInt8?)
    /// Bytes that do not frame as TLS records, read from or written to a side (record log).
    case invalidTLS(TLSParseError, from: TransferSide)
    /// A leg engine's output took nothing although it had room for a record.
    case outputFull
    /// Sealing a record failed although its output had room.
    case sealFailed
    /// A KeyUpdate asking for Veil's could not be answered.
    case keyUpdateUnanswered
    /// No data either way for the idle timeout (seconds).
    case idle(seconds: Double)

    var closeReason: CloseReason {
        switch self {
        case .bothClosed(let authenticated):
            CloseReason(.ok, authenticated ? "both sides closed" : "both sides closed without close_notify")
        case .peerFailed(let side, let result):
            .peerFailed(client: side == .client, result: result)
        case .sessionFailed(let side, let why, let alert):
            CloseReason(side.gone, "\(side.name): \(why)" + (alert.map { " (sent alert fatal \(TLSAlert.name(for: $0)))" } ?? ""))
        case .invalidTLS(let error, let side):
            CloseReason(.handshakeFailed, TransferCloseCause.describe(error, from: side))
        case .outputFull:
            CloseReason(.error, "internal: TLS output buffer full")
        case .sealFailed:
            CloseReason(.error, "internal: sealing a record failed")
        case .keyUpdateUnanswered:
            CloseReason(.error, "cannot answer a KeyUpdate")
        case .idle(let seconds):
            CloseReason(.idleTimeout, "no data either way for \(TransferCloseCause.format(seconds))")
        }
    }
}
