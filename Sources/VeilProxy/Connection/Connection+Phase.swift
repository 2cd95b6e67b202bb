extension Connection {
    /// What runs the connection now: each case carries its machine, so what exists only in a
    /// phase lives in that case. The owner's drivers (Connection+Request, +Transfer, +Intercept,
    /// +InterceptRelay, +MixedTransfer) take their machine out for one event and put it back
    /// before they perform its actions (`take`).
    enum Phase {
        /// Reading the request, admitting, resolving, connecting, answering.
        case request(RequestMachine)
        /// Pass-through, kTLS splice or plain-http forward.
        case transfer(TransferMachine)
        /// An intercepted connection's handshakes and kTLS switch.
        case intercept(InterceptMachine)
        /// After them: the userspace relay, or the relay with one leg on kTLS (both on kTLS:
        /// `transfer`).
        case interceptRelay(InterceptRelayMachine)
        case mixedRelay(MixedRelayMachine)
        /// `finish` ran: nothing more is run. The machine that ran is kept, as `ended`, until
        /// `finalize`: the kernel may read or write its buffers until every cancelled
        /// operation has completed.
        indirect case closing(ended: Phase)
        /// `finalize` ran: everything is released.
        case closed
        /// A machine is out of `phase`, handling one event (see `take`). Never seen by anything
        /// else: a machine's `handle` calls nothing back on its owner, and the actions it returns
        /// are performed once the machine is back.
        case handling

        /// Moves the value out, leaving `.handling`: the machine is moved, not copied, so the
        /// event neither retains and releases what it refers to nor copies its buffers on write.
        @inline(__always)
        mutating func take() -> Phase {
            var taken = Phase.handling
            swap(&taken, &self)
            return taken
        }

        /// Whether `finish` ran (or `finalize`).
        var isOver: Bool {
            switch self {
            case .closing, .closed: true
            default: false
            }
        }
    }
}
