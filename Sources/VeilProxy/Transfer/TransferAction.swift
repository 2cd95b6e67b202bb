import VeilTLS

/// What a transfer machine asks its owner to do. The owner performs each with the runtime's
/// typed operations and reports completions as `TransferEvent`s; it decides nothing itself.
/// Operations name a socket (`TransferSide`) or a direction (`TransferDirection`: its source,
/// destination and pipe); buffers are the ones the owner gave the machine, or the machine's own.
enum TransferAction {
    /// recv(2) from `side` into `buffer` (at most `count` bytes); `pollFirst`: behind a poll for
    /// readability linked to it (non-blocking sockets). Completes as `.received`.
    case receive(TransferSide, into: UnsafeMutableRawPointer, count: Int, pollFirst: Bool)
    /// send(2) to `side`; `pollFirst`: behind a poll for room linked to it. Completes as `.sent`.
    case send(TransferSide, from: UnsafeRawPointer, count: Int, pollFirst: Bool)
    /// Cancels the receive in flight from `side` (it completes, as `.received`, with what it had).
    case cancelReceive(TransferSide)
    /// Sends the client a plaintext fatal alert refusing its handshake. Completes as `.refusalSent`.
    case refuseHandshake(alert: UInt8)
    /// shutdown(SHUT_WR) of `direction`'s destination: a bare FIN. Completes as `.shutDown`.
    case shutdownWrite(TransferDirection)
    /// The record buffers are no longer used: back to the pool.
    case releaseRecordBuffers
    /// Both sockets non-blocking (the splice relay's polls do the waiting).
    case setNonBlocking
    /// Opens the splice pipes (`up`: one for the upward direction too; always one for the
    /// downward direction), now, and reports `.pipesOpened` or `.pipesFailed` at once.
    case openPipes(up: Bool)
    /// Asks the kernel for a bigger pipe, now, and reports `.pipeResized` at once.
    case resizePipe(TransferDirection, to: Int)
    /// Waits for `direction`'s source to be readable (or its peer closed: a poll), then
    /// splices at most `count` bytes from it into the pipe (non-blocking). Completes as
    /// `.splicedIn`.
    case spliceIn(TransferDirection, count: Int)
    /// Splices at most `count` bytes from the pipe into the destination (non-blocking), at once
    /// or, when `pollFirst`, once the destination has room. Completes as `.splicedOut` (at once:
    /// as the action's immediate outcome).
    case spliceOut(TransferDirection, count: Int, pollFirst: Bool)
    /// kTLS: recvmsg of one record from `direction`'s source. Completes as `.recordReceived`.
    case receiveRecord(TransferDirection)
    /// kTLS: sendmsg of an alert record to `direction`'s destination. Completes as `.recordSent`.
    case sendAlertRecord(TransferDirection, level: UInt8, description: UInt8)
    /// kTLS: sendmsg of the record just received in `direction` (its first `count` bytes, of
    /// content `type`) to the destination. Completes as `.recordSent`.
    case forwardRecord(TransferDirection, type: UInt8, count: Int)
    /// The transfer's deadline (MonotonicClock nanoseconds; 0: none).
    case setDeadline(UInt64)
    /// `bytes` reached `direction`'s destination (the summary's bytes up / down).
    case moved(TransferDirection, bytes: Int)
    /// Something the summary line says.
    case note(TransferNote)
    /// A record-log line (`--record-log records`).
    case logRecord(RecordDirection, TLSRecordSummary)
    /// A diagnostic line for the operator (the owner prefixes the connection).
    case diagnostic(String)
    /// The transfer is over: the owner retires the connection with this cause's reason.
    case close(TransferCloseCause)
}

/// A fact for the connection's summary line.
enum TransferNote: Equatable {
    /// How `side`'s stream ended (the first end noted counts).
    case end(TransferSide, StreamEnd)
    /// The ServerHello's version, cipher and the ALPN (pass-through).
    case handshake(version: String, cipher: String?, alpn: String?)
    /// The client's SNI (nil: none sent).
    case sni(String?)
    /// How the data moved.
    case path(ConnectionSummary.DataPath)
    /// What the connection turned out to be.
    case mode(ConnectionSummary.Mode)
}
