extension Connection {
    /// What runs the connection now: each case carries its machine, so what exists only in a
    /// phase lives in that case. Drivers (Connection+Request, +Transfer, +Intercept,
    /// +InterceptRelay, +MixedTransfer) find their machine with `guard case`, have it handle an
    /// event in place, then perform its actions; an action that ends the connection or hands it
    /// to the next machine replaces the phase, while the driver's own reference keeps the machine
    /// it runs alive until it returns.
    enum Phase {
        /// Reading the request, admitting, resolving, connecting, answering.
        case request(Held<RequestMachine>)
        /// Pass-through, kTLS splice or plain-http forward.
        case transfer(Held<TransferMachine>)
        /// An intercepted connection's handshakes and kTLS switch.
        case intercept(Held<InterceptMachine>)
        /// After them: the userspace relay, or the relay with one leg on kTLS (both on kTLS:
        /// `transfer`).
        case interceptRelay(Held<InterceptRelayMachine>)
        case mixedRelay(Held<MixedRelayMachine>)
        /// `finish` ran: nothing is run any more. The machine that ran is kept, as `ended`,
        /// until `finalize`: the kernel may read or write its buffers (engines, records, a
        /// forwarded head) until every cancelled operation has completed.
        case closing(ended: AnyObject?)
        /// `finalize` ran: everything is released.
        case closed

        /// Whether `finish` ran (or `finalize`).
        var isOver: Bool {
            switch self {
            case .closing, .closed: true
            default: false
            }
        }

        /// The running machine's holder.
        var running: AnyObject? {
            switch self {
            case .request(let h): h
            case .transfer(let h): h
            case .intercept(let h): h
            case .interceptRelay(let h): h
            case .mixedRelay(let h): h
            case .closing, .closed: nil
            }
        }
    }

    /// A machine as `phase` holds it: one object per phase, so that an event mutates the machine
    /// where it is. (A machine moved out of an enum case and back for each event costs a copy of
    /// the whole enum's size and, as Swift compiles it, a copy and a destroy through its value
    /// witnesses: measurably more CPU per event than the optionals this replaced.)
    final class Held<Machine> {
        // Only read or mutated in place by the phase's driver, whose machine calls nothing back:
        // no access overlaps another (see Connection's stored properties).
        @exclusivity(unchecked) var machine: Machine

        init(_ machine: Machine) { self.machine = machine }
    }
}
