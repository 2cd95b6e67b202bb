/// What happened, as the owner of a transfer machine tells it: the completion of an operation
/// the machine asked for (with the kernel's result: bytes, 0 at the end of a stream, or a
/// negative errno), the start, or a deadline. Events that can mark activity carry the time
/// (MonotonicClock nanoseconds): the machines never read a clock.
///
/// One event type serves the transfer machines (`PassThroughMachine`, `SpliceMachine`,
/// `ForwardMachine`), so the owner turns each completion into the same event whichever of them
/// runs; a machine ignores what does not concern its state.
enum TransferEvent {
    /// The transfer begins.
    case start(now: UInt64)
    /// A `receive` from `side` completed.
    case received(TransferSide, result: Int32, now: UInt64)
    /// A `send` to `side` completed.
    case sent(TransferSide, result: Int32, now: UInt64)
    /// The plaintext alert refusing the client's handshake (`refuseHandshake`) is out, or failed.
    case refusalSent
    /// The `shutdownWrite` of a direction's destination completed.
    case shutDown(TransferDirection)
    /// `openPipes` succeeded: each pipe's capacity in bytes (0 for a direction without one).
    case pipesOpened(up: Int, down: Int, now: UInt64)
    /// `openPipes` failed (the system error, described).
    case pipesFailed(String)
    /// `resizePipe` done: the new capacity, or nil when the kernel refused.
    case pipeResized(TransferDirection, capacity: Int?)
    /// A poll before a `receive` or `send` completed (the splice relay's polls report as the
    /// splice that follows them).
    case polled(TransferDirection)
    /// The `spliceIn` from the source into the pipe completed.
    case splicedIn(TransferDirection, result: Int32)
    /// The `spliceOut` from the pipe to the destination completed.
    case splicedOut(TransferDirection, result: Int32, now: UInt64)
    /// kTLS: `receiveRecord` completed: the record's content type and plaintext (`result` bytes).
    case recordReceived(TransferDirection, result: Int32, type: UInt8, body: UnsafeBufferPointer<UInt8>)
    /// kTLS: `sendAlertRecord` or `forwardRecord` completed.
    case recordSent(TransferDirection, result: Int32)
    /// The deadline the machine set (or the owner's own) has come.
    case deadlinePassed(now: UInt64)
}
