/// One direction of the splice relay (socket -> pipe -> socket inside the kernel), pipelined: a
/// splice into the pipe (behind a poll of the source) runs while the previous chunk is spliced
/// out of it. What is in the pipe, which of the two splices is in flight (`flow.receiving`,
/// `flow.sending`), and the half-close bookkeeping (`StreamDirection`). Changed on every
/// completion, so it is a class the machine's state refers to (never copied).
final class SpliceStream {
    /// kTLS: a record splice cannot move, read and passed on by recvmsg / sendmsg while
    /// neither splice is in flight and the pipe is empty.
    enum Record: Equatable {
        case none
        /// The splice in stopped at it: read once the pipe is drained.
        case next
        /// recvmsg in flight.
        case receiving
        /// sendmsg of an alert, or of application data that came by recvmsg, in flight.
        case sending
    }

    let direction: TransferDirection
    @exclusivity(unchecked) var flow = StreamDirection()
    @exclusivity(unchecked) var record = Record.none
    /// Bytes spliced into the pipe and not yet out of it.
    @exclusivity(unchecked) var inPipe = 0
    @exclusivity(unchecked) var pipeCapacity: Int
    /// Bytes the splice out in flight was asked for.
    @exclusivity(unchecked) var outCount = 0
    /// The last splice out found the destination full (EAGAIN or short): the next one waits
    /// behind a poll for room.
    @exclusivity(unchecked) var outPollFirst = false
    /// The last splice in moved nothing while bytes were in the pipe (a full pipe, or nothing
    /// to read): the next one waits for the splice out in flight, so nothing spins.
    @exclusivity(unchecked) var inWaitsForOut = false
    /// A bigger pipe asked for (answered at once): no splice in until then.
    @exclusivity(unchecked) var resizing = false
    /// False once the kernel refused a bigger pipe (per-user pipe limits): not asked again.
    @exclusivity(unchecked) var canGrow = true
    /// kTLS: the peer's close_notify or fatal alert, to pass on as a record of its own once the
    /// pipe is drained.
    @exclusivity(unchecked) var alert: (level: UInt8, description: UInt8)?

    init(_ direction: TransferDirection, pipeCapacity: Int) {
        self.direction = direction
        self.pipeCapacity = pipeCapacity
    }
}
