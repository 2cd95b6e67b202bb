/// One direction of a transfer: bytes from a source socket (or session) to a destination, with
/// the half-close bookkeeping every pump shares (the handshake record pump, the splice pump, an
/// intercepted TLS leg's direction, a kTLS leg, the HTTPS listener's two directions).
///
/// The source either is open or has ended, and how it ended (`StreamEnd`: close_notify, a bare
/// FIN, an alert...) decides how the end is passed on: only an authenticated end (close_notify)
/// becomes one at the destination. The destination's write side goes open -> ending (an end is
/// queued: close_notify to write first when authenticated, else nothing) -> shut (shutdown
/// SHUT_WR submitted and done). A direction is done when its destination is shut and nothing of
/// it is in flight.
struct StreamDirection: Sendable, Equatable {
    enum Source: Sendable, Equatable {
        case open
        /// The transport ended (EOF read) while bytes read before it are still to be processed:
        /// how the stream ended (a close_notify among them, a bare FIN at a record boundary or
        /// inside a record) is known once they are (`sourceEnded`).
        case draining
        case ended(StreamEnd)
    }

    enum Sink: Sendable, Equatable {
        case open
        /// The end is queued: with close_notify before the FIN when `authenticated`.
        case ending(authenticated: Bool)
        /// shutdown(SHUT_WR) submitted, not completed yet.
        case shutting(authenticated: Bool)
        case shut(authenticated: Bool)
    }

    private(set) var source = Source.open
    private(set) var sink = Sink.open
    /// A read from the source is in flight.
    var receiving = false
    /// A write to the destination is in flight.
    var sending = false
    /// Bytes written to the destination.
    private(set) var bytes: UInt64 = 0
    /// The source's transport has not reached EOF (it may already have ended as a stream: a
    /// close_notify comes before the FIN).
    private(set) var transportOpen = true

    init() {}

    /// How the source ended, once it has.
    var sourceEnd: StreamEnd? {
        if case .ended(let end) = source { return end }
        return nil
    }

    var sourceOpen: Bool { source == .open }
    /// Nothing more will arrive from the source (its transport ended, or its end is known).
    var inputEnded: Bool { source != .open }
    var sinkOpen: Bool { sink == .open }

    /// The destination's write side is shut (or its shutdown is under way).
    var sinkClosing: Bool {
        switch sink {
        case .open, .ending: return false
        case .shutting, .shut: return true
        }
    }

    /// Nothing more will move and nothing is in flight.
    var isDone: Bool {
        if case .shut = sink { return !receiving && !sending }
        return false
    }

    /// The source ended; the first end seen counts. Returns whether this was the first.
    @discardableResult
    mutating func sourceEnded(_ end: StreamEnd) -> Bool {
        if case .ended = source { return false }
        source = .ended(end)
        return true
    }

    /// The source's transport ended (EOF); before how the stream ended is known, bytes read
    /// before it are still to be processed. Returns whether the source changed.
    @discardableResult
    mutating func transportEnded() -> Bool {
        transportOpen = false
        guard source == .open else { return false }
        source = .draining
        return true
    }

    /// Queues the destination's end: `authenticated` only when the source's end was. Returns
    /// whether it was queued now (false: already queued or shut).
    @discardableResult
    mutating func queueEnd(authenticated: Bool) -> Bool {
        guard sink == .open else { return false }
        sink = .ending(authenticated: authenticated)
        return true
    }

    /// The queued end's bytes (if any) are out: the write side's shutdown is submitted.
    mutating func shutdownSubmitted() {
        switch sink {
        case .open: sink = .shutting(authenticated: false)
        case .ending(let a): sink = .shutting(authenticated: a)
        case .shutting, .shut: break
        }
    }

    /// The shutdown completed.
    mutating func shutdownDone() {
        switch sink {
        case .open: sink = .shut(authenticated: false)
        case .ending(let a), .shutting(let a), .shut(let a): sink = .shut(authenticated: a)
        }
    }

    /// Whether the end passed on (or being passed on) is authenticated.
    var endAuthenticated: Bool {
        switch sink {
        case .open: return false
        case .ending(let a), .shutting(let a), .shut(let a): return a
        }
    }

    /// `count` bytes reached the destination.
    mutating func moved(_ count: Int) {
        if count > 0 { bytes &+= UInt64(count) }
    }
}
