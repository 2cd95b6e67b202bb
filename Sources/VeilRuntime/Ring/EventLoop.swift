internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// One worker thread's io_uring and everything that runs on it.
///
/// Handlers register to get an `IOHandle`; every operation they submit carries the handle and a
/// one-byte tag in its user_data, so a completion finds its handler without any allocation. The
/// loop counts operations in flight per handle: a handler may only be released when none are left
/// (`inFlight(_:) == 0`), which is what makes closing a connection safe.
public final class EventLoop {
    struct Slot {
        var handler: (any IOHandler)?
        var generation: UInt32 = 0
        var inFlight: Int32 = 0
        var deadline: UInt64 = 0
        /// The handler has ended (`retire`): it gets no more completions, deadlines or
        /// messages, new submissions are refused, and `finalize` runs once nothing is in flight.
        var retiring = false
    }

    public let index: Int
    let ring: IOUring
    public let remote: LoopRemote
    /// Application state attached to this loop (set once at start-up by the layer above).
    public var context: AnyObject?

    // `@exclusivity(unchecked)`: the slot table and the lists beside it are touched on every
    // submission and completion (about 170 instructions per dynamic exclusivity check on this
    // toolchain, several per operation). Every access is instantaneous: a handler is copied out
    // of its slot before it is called, so no access spans a call that could reach the loop again.
    @exclusivity(unchecked) private var slots: [Slot] = [Slot()]   // slot 0: the loop's own operations
    @exclusivity(unchecked) private var freeSlots: [UInt32] = []
    @exclusivity(unchecked) private(set) public var liveHandlers = 0
    @exclusivity(unchecked) private var running = true
    private var eventBuffer: UnsafeMutablePointer<UInt64>
    private var logWriters: [LogWriter] = []
    /// Retired handlers with nothing in flight, finalized after the current event returns.
    @exclusivity(unchecked) private var finalizable: [IOHandle] = []
    private let tickNanos: UInt64 = 100_000_000
    @exclusivity(unchecked) private var nextSweep: UInt64 = 0

    /// Operation tags used on slot 0.
    private static let opEventFD: UInt8 = 1
    private static let opLogWriteBase: UInt8 = 16

    public init(index: Int, entries: UInt32 = 4096) throws(SystemError) {
        self.index = index
        ring = try IOUring(entries: entries)
        remote = try LoopRemote()
        eventBuffer = .allocate(capacity: 1)
        eventBuffer.initialize(to: 0)
        slots.reserveCapacity(1024)
    }

    deinit { eventBuffer.deallocate() }

    // MARK: Handlers

    /// Registers a handler and returns the handle its operations must carry.
    public func register(_ handler: any IOHandler) -> IOHandle {
        liveHandlers += 1
        if let slot = freeSlots.popLast() {
            slots[Int(slot)].handler = handler
            slots[Int(slot)].inFlight = 0
            slots[Int(slot)].deadline = 0
            slots[Int(slot)].retiring = false
            return IOHandle(slot: slot, generation: slots[Int(slot)].generation)
        }
        slots.append(Slot(handler: handler))
        return IOHandle(slot: UInt32(slots.count - 1), generation: 0)
    }

    /// Forgets a handler that has nothing in flight (handlers with operations ended by the
    /// network use `retire`). Does nothing while operations are in flight.
    public func release(_ handle: IOHandle) {
        guard isLive(handle) else { return }
        let i = Int(handle.slot)
        guard slots[i].inFlight == 0 else { return }
        slots[i].handler = nil
        slots[i].retiring = false
        slots[i].deadline = 0
        slots[i].generation = (slots[i].generation &+ 1) & 0xFF_FFFF
        freeSlots.append(handle.slot)
        liveHandlers -= 1
    }

    /// Whether `handle` names a registered handler that has not been retired: only such a
    /// handle may submit operations. A handler that keeps running after it ended (a call chain
    /// that goes on after a re-entrant close) is refused here instead of submitting on file
    /// descriptors that are about to be closed, or reused by another connection.
    @inline(__always)
    public func isLive(_ handle: IOHandle) -> Bool {
        let i = Int(handle.slot)
        return i > 0 && i < slots.count && slots[i].generation == handle.generation
            && slots[i].handler != nil && !slots[i].retiring
    }

    /// Ends a handler: operations still in flight on `fds` (negative ones skipped) are
    /// cancelled, and once none is left, after the current event has returned (never from
    /// inside this call), `finalize` runs once and the slot is freed. From now on the handler
    /// gets no completions, deadlines or messages, and its submissions are refused, so whatever
    /// the code that called `retire` does next cannot touch the kernel.
    public func retire(_ handle: IOHandle, cancelling fds: [Int32]) {
        guard isLive(handle) else { return }
        let i = Int(handle.slot)
        if slots[i].inFlight > 0 {
            for fd in fds where fd >= 0 { cancelAll(handle, op: 0, fd: fd) }
        }
        markRetiring(handle)
    }

    /// `retire` for a handler with two descriptors (no array to build).
    public func retire(_ handle: IOHandle, cancelling a: Int32, _ b: Int32) {
        guard isLive(handle) else { return }
        if slots[Int(handle.slot)].inFlight > 0 {
            if a >= 0 { cancelAll(handle, op: 0, fd: a) }
            if b >= 0 { cancelAll(handle, op: 0, fd: b) }
        }
        markRetiring(handle)
    }

    private func markRetiring(_ handle: IOHandle) {
        let i = Int(handle.slot)
        slots[i].retiring = true
        slots[i].deadline = 0
        if slots[i].inFlight == 0 { finalizable.append(handle) }
    }

    /// Runs `finalize` for retired handlers with nothing left in flight and frees their slots.
    private func finalizeRetired() {
        while let h = finalizable.popLast() {
            let i = Int(h.slot)
            guard i < slots.count, slots[i].generation == h.generation, slots[i].retiring,
                  slots[i].inFlight == 0, let handler = slots[i].handler else { continue }
            slots[i].handler = nil
            slots[i].retiring = false
            slots[i].deadline = 0
            slots[i].generation = (slots[i].generation &+ 1) & 0xFF_FFFF
            freeSlots.append(h.slot)
            liveHandlers -= 1
            handler.finalize(loop: self)
        }
    }

    /// Operations submitted under `handle` that have not completed yet.
    @inline(__always)
    public func inFlight(_ handle: IOHandle) -> Int32 { slots[Int(handle.slot)].inFlight }

    /// Calls `deadlineExpired` on the handler once `deadline` (MonotonicClock ns) has passed;
    /// 0 clears it. Checked every 100 ms.
    @inline(__always)
    public func setDeadline(_ handle: IOHandle, _ deadline: UInt64) {
        slots[Int(handle.slot)].deadline = deadline
    }

    /// Marks one more operation in flight and returns its user_data.
    @inline(__always)
    func track(_ handle: IOHandle, op: UInt8) -> UInt64 {
        slots[Int(handle.slot)].inFlight += 1
        return handle.userData(op: op)
    }

    // MARK: Logging

    /// Adds a log destination served by this loop; returns it.
    /// `notices`: the format of the notice when lines had to be dropped (nil: none, for files
    /// that take no other lines, such as a key log).
    public func addLogWriter(fd: Int32, notices: LogFormat?) -> LogWriter {
        if let existing = logWriters.first(where: { $0.fd == fd }) { return existing }
        let writer = LogWriter(fd: fd, index: logWriters.count, notices: notices)
        logWriters.append(writer)
        return writer
    }

    func submitLogWrite(writer: Int, fd: Int32, bytes: UnsafeRawPointer, count: Int) {
        let sqe = ring.nextSQE()
        io_uring_prep_write(sqe, fd, bytes, UInt32(count), UInt64.max)  // -1: current file position
        io_uring_sqe_set_data64(sqe, IOHandle(slot: 0, generation: 0).userData(op: EventLoop.opLogWriteBase + UInt8(writer)))
    }

    // MARK: Running

    /// Asks the loop to return from `run()` after the current iteration.
    public func stop() { running = false }

    /// Runs until `stop()`. Must be called on the thread that created the loop.
    public func run() {
        markCurrentThread()
        armEventFD()
        nextSweep = MonotonicClock.now() + tickNanos
        while running {
            let now = MonotonicClock.now()
            var wake = nextSweep
            for w in logWriters {
                w.flushIfDue(on: self, now: now)
                if let due = w.due { wake = min(wake, due) }
            }
            let wait = wake > now ? wake - now : 0
            ring.submitAndWait(timeoutNanos: max(wait, 1_000_000))
            ring.drain { userData, result, flags in
                self.dispatch(userData: userData, result: result, flags: flags)
                self.finalizeRetired()
            }
            if MonotonicClock.now() >= nextSweep {
                sweepDeadlines()
                nextSweep = MonotonicClock.now() + tickNanos
            }
            finalizeRetired()
        }
        // Let log writes already in the kernel finish (bounded), so nothing is written twice.
        var waits = 0
        while logWriters.contains(where: { $0.inFlight }) && waits < 200 {
            ring.submitAndWait(timeoutNanos: 10_000_000)
            ring.drain { userData, result, flags in
                self.dispatch(userData: userData, result: result, flags: flags)
            }
            waits += 1
        }
        for w in logWriters { w.flushBlocking() }
    }

    @inline(__always)
    private func dispatch(userData: UInt64, result: Int32, flags: UInt32) {
        let (slot, generation, op) = IOHandle.decode(userData)
        if slot == 0 {
            internalCompletion(op: op, result: result)
            return
        }
        let i = Int(slot)
        guard i < slots.count, slots[i].generation == generation else { return }
        let more = flags & IORING_CQE_F_MORE != 0
        if !more { slots[i].inFlight -= 1 }
        if slots[i].retiring {
            if slots[i].inFlight == 0 { finalizable.append(IOHandle(slot: slot, generation: generation)) }
            return
        }
        guard let handler = slots[i].handler else { return }
        handler.complete(op: op, result: result, more: more, loop: self)
    }

    private func internalCompletion(op: UInt8, result: Int32) {
        if op == EventLoop.opEventFD {
            for message in remote.take() {
                switch message {
                case .deliver(let handle, let payload):
                    let i = Int(handle.slot)
                    if isLive(handle), let h = slots[i].handler {
                        h.receive(payload, loop: self)
                    }
                case .run(let body):
                    body(self)
                }
            }
            if running { armEventFD() }
        } else if op >= EventLoop.opLogWriteBase {
            let w = Int(op - EventLoop.opLogWriteBase)
            if w < logWriters.count { logWriters[w].completed(result: result, on: self) }
        }
    }

    private func armEventFD() {
        let sqe = ring.nextSQE()
        io_uring_prep_read(sqe, remote.eventFD, eventBuffer, 8, 0)
        io_uring_sqe_set_data64(sqe, IOHandle(slot: 0, generation: 0).userData(op: EventLoop.opEventFD))
    }

    private func sweepDeadlines() {
        let now = MonotonicClock.now()
        var i = 1
        while i < slots.count {
            let d = slots[i].deadline
            if d != 0, d <= now, !slots[i].retiring, let h = slots[i].handler {
                slots[i].deadline = 0
                h.deadlineExpired(loop: self)
            }
            i += 1
        }
    }
}
