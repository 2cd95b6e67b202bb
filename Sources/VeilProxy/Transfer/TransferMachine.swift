/// The machine running a connection's transfer, whichever pipeline it is: the pass-through
/// handshake relay and its splice (`PassThroughMachine`), the splice between two kTLS sockets
/// (`SpliceMachine`), or a plain-http forward (`ForwardMachine`). The owner (`Connection`) feeds
/// each the same `TransferEvent`s and performs the same `TransferAction`s.
enum TransferMachine {
    case passThrough(PassThroughMachine)
    case kernelTLS(SpliceMachine)
    case forward(ForwardMachine)

    /// The running machine is moved out of `self` (not copied) while it handles the event, so
    /// that the state it refers to is not retained and released once more per event.
    mutating func handle(_ event: TransferEvent, _ actions: inout [TransferAction]) {
        switch consume self {
        case .passThrough(var m):
            m.handle(event, &actions)
            self = .passThrough(m)
        case .kernelTLS(var m):
            m.handle(event, &actions)
            self = .kernelTLS(m)
        case .forward(var m):
            m.handle(event, &actions)
            self = .forward(m)
        }
    }
}
