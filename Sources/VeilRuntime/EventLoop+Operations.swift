import CLibURing
import CVeilShims
#if canImport(Glibc)
import Glibc
#endif

/// Typed submissions. Every call queues one operation tagged with the caller's handle and `op`;
/// the completion arrives in `IOHandler.complete(op:result:more:loop:)` with the kernel's result
/// (bytes, or a negative errno). Buffers and addresses must stay valid until then. A handle that
/// is not live (released, or retired) submits nothing.
extension EventLoop {
    @inline(__always)
    public func recv(_ h: IOHandle, op: UInt8, fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int, flags: Int32 = 0) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_recv(sqe, fd, buffer, count, flags)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    @inline(__always)
    public func send(_ h: IOHandle, op: UInt8, fd: Int32, from buffer: UnsafeRawPointer, count: Int, flags: Int32 = 0) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_send(sqe, fd, buffer, count, flags | Int32(MSG_NOSIGNAL))
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Receives at most `max` bytes into `buffer`'s free room (compacted first) and pins the
    /// buffer; the completion's handler unpins it and calls `didWrite`. Returns the bytes asked
    /// for: 0 when there is no room, and then nothing is submitted.
    @discardableResult
    public func recv(_ h: IOHandle, op: UInt8, fd: Int32, into buffer: ByteBuffer, max: Int = .max, flags: Int32 = 0) -> Int {
        guard isLive(h) else { return 0 }
        let target = buffer.writePointer
        let count = Swift.min(buffer.contiguousWritable, max)
        guard count > 0 else { return 0 }
        buffer.pinned = true
        recv(h, op: op, fd: fd, into: target, count: count, flags: flags)
        return count
    }

    /// Sends all of `buffer`'s readable bytes and pins it; the completion's handler unpins it and
    /// consumes what went out. Returns the bytes asked for: 0 when it is empty (nothing submitted).
    @discardableResult
    public func send(_ h: IOHandle, op: UInt8, fd: Int32, from buffer: ByteBuffer, flags: Int32 = 0) -> Int {
        guard isLive(h) else { return 0 }
        let count = buffer.readable
        guard count > 0 else { return 0 }
        buffer.pinned = true
        send(h, op: op, fd: fd, from: buffer.readPointer, count: count, flags: flags)
        return count
    }

    public func connect(_ h: IOHandle, op: UInt8, fd: Int32, address: UnsafePointer<sockaddr>, length: socklen_t) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_connect(sqe, fd, address, length)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Multishot accept: completes once per accepted connection (result = new fd) while `more`.
    public func acceptMultishot(_ h: IOHandle, op: UInt8, fd: Int32) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_multishot_accept(sqe, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Waits until `fd` is readable (POLLIN) or writable (POLLOUT); result is the ready mask.
    /// `linkNext`: the next submission runs after this one completes, whatever its result
    /// (IOSQE_IO_HARDLINK). Call `reserve(_:)` first so a chain is never split across submits.
    @inline(__always)
    public func poll(_ h: IOHandle, op: UInt8, fd: Int32, events: UInt32, linkNext: Bool = false) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_poll_add(sqe, fd, events)
        if linkNext { io_uring_sqe_set_flags(sqe, veil_iosqe_io_hardlink) }
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// splice(2) between a socket and a pipe (offsets unused). `linkNext` as for `poll`.
    @inline(__always)
    public func splice(_ h: IOHandle, op: UInt8, from fdIn: Int32, to fdOut: Int32, count: UInt32, flags: UInt32,
                       linkNext: Bool = false) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_splice(sqe, fdIn, -1, fdOut, -1, count, flags)
        if linkNext { io_uring_sqe_set_flags(sqe, veil_iosqe_io_hardlink) }
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Makes sure the next `count` submissions fit in the queue without an intermediate submit.
    @inline(__always)
    public func reserve(_ count: UInt32) {
        ring.reserve(count)
    }

    public func shutdown(_ h: IOHandle, op: UInt8, fd: Int32, how: Int32) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_shutdown(sqe, fd, how)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Cancels every operation in flight on `fd`. Its own completion counts as in flight too, so
    /// a handler that waits for `inFlight == 0` before closing never races a late cancellation.
    public func cancelAll(_ h: IOHandle, op: UInt8, fd: Int32) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_cancel_fd(sqe, fd, UInt32(IORING_ASYNC_CANCEL_ALL))
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Cancels the operation of `h` tagged `target`.
    public func cancel(_ h: IOHandle, op: UInt8, target: UInt8) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_cancel64(sqe, h.userData(op: target), 0)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Any other operation: `prepare` fills the entry; the loop tags and tracks it.
    @inline(__always)
    public func submit(_ h: IOHandle, op: UInt8, _ prepare: (UnsafeMutablePointer<io_uring_sqe>) -> Void) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        prepare(sqe)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }
}
