/// One direction of the splice relay (socket -> pipe -> socket inside the kernel): what is in
/// its pipe, the chain in flight, and its half-close bookkeeping (`StreamDirection`). Changed on
/// every completion, so it is a class the machine's state refers to (never copied).
final class SpliceStream {
    /// The operations in flight for this direction: one chain at a time.
    enum Chain: Equatable {
        case none
        /// poll(source) -> splice(source -> pipe) -> splice(pipe -> destination).
        case fill
        /// poll(destination) -> splice(pipe -> destination), while bytes remain in the pipe.
        case drain
        /// A bigger pipe asked for (answered at once).
        case resizing
        /// kTLS: recvmsg of a record that is not application data.
        case receivingRecord
        /// kTLS: sendmsg of an alert, or of application data that came by recvmsg.
        case sendingRecord
    }

    let direction: TransferDirection
    @exclusivity(unchecked) var flow = StreamDirection()
    @exclusivity(unchecked) var chain = Chain.none
    /// Completions the chain in flight still owes.
    @exclusivity(unchecked) var pending = 0
    /// The chain's results: the splice into the pipe and the splice out of it.
    @exclusivity(unchecked) var inResult: Int32 = 0
    @exclusivity(unchecked) var outResult: Int32 = 0
    /// When the splice out of the pipe completed.
    @exclusivity(unchecked) var outTime: UInt64 = 0
    /// Bytes spliced into the pipe and not yet out of it.
    @exclusivity(unchecked) var inPipe = 0
    @exclusivity(unchecked) var pipeCapacity: Int
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
