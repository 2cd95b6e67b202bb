import VeilRuntime

/// What the owner of a splice relay holds for it: a pipe per direction (socket -> pipe ->
/// socket inside the kernel) and, on kTLS sockets, a record message per direction for the
/// records splice cannot move (recvmsg / sendmsg). The machine (`SpliceMachine`) decides; these
/// are only the kernel objects its actions use, given back to the worker's pipe pool (or
/// closed) when the connection is finalized.
struct SplicePipes {
    private(set) var up: Pipe?
    private(set) var down: Pipe?
    /// The counts of the splices waiting for their poll (in and out, per direction).
    private var upIn = 0, upOut = 0, downIn = 0, downOut = 0
    private var upMessage: TLSRecordMessage?
    private var downMessage: TLSRecordMessage?

    /// Takes the downward pipe, and the upward one when `up`, from `pool` (a pooled pipe is
    /// empty and of a fresh pipe's size); returns their capacities.
    mutating func open(up wantUp: Bool, from pool: PipePool) throws(SystemError) -> (up: Int, down: Int) {
        let d = try pool.take()
        down = d
        guard wantUp else { return (0, d.capacity) }
        let u = try pool.take()
        up = u
        return (u.capacity, d.capacity)
    }

    func pipe(_ direction: TransferDirection) -> Pipe? { direction == .up ? up : down }

    /// Remembers the count of `direction`'s splice in (`in`) or out, done once its poll completes.
    mutating func setCount(_ direction: TransferDirection, in: Bool, _ count: Int) {
        switch (direction, `in`) {
        case (.up, true): upIn = count
        case (.up, false): upOut = count
        case (.down, true): downIn = count
        case (.down, false): downOut = count
        }
    }

    func count(_ direction: TransferDirection, in: Bool) -> Int {
        switch (direction, `in`) {
        case (.up, true): return upIn
        case (.up, false): return upOut
        case (.down, true): return downIn
        case (.down, false): return downOut
        }
    }

    /// Asks for a bigger pipe: the new capacity, or nil when the kernel refused.
    mutating func grow(_ direction: TransferDirection, to size: Int) -> Int? {
        if direction == .up {
            guard var p = up, p.grow(to: size) else { return nil }
            up = p
            return p.capacity
        }
        guard var p = down, p.grow(to: size) else { return nil }
        down = p
        return p.capacity
    }

    /// The direction's record message, allocated on first use (nil: out of memory).
    mutating func message(_ direction: TransferDirection) -> TLSRecordMessage? {
        if direction == .up {
            if upMessage == nil { upMessage = TLSRecordMessage() }
            return upMessage
        }
        if downMessage == nil { downMessage = TLSRecordMessage() }
        return downMessage
    }

    /// Gives the pipes back to `pool` (which keeps only empty, never-grown ones and closes the
    /// rest) and frees the messages. Nothing on the ring ever uses a pipe's descriptors (the
    /// splices run on the loop's thread), so nothing of theirs can still be in flight.
    mutating func release(to pool: PipePool) {
        if let u = up { pool.give(u) }
        if let d = down { pool.give(d) }
        up = nil
        down = nil
        upMessage = nil
        downMessage = nil
    }
}
