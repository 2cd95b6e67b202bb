internal import CLibURing
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// Typed submissions. Every call queues one operation tagged with the caller's handle and `op`;
/// the completion arrives in `IOHandler.complete(op:result:more:loop:)` with the kernel's result
/// (bytes, or a negative errno). Buffers and addresses must stay valid until then. A handle that
/// is not live (released, or retired) submits nothing.
extension EventLoop {
    /// recv(2) of at most `count` bytes. `dontWait`: complete at once, with -EAGAIN when
    /// nothing is there (MSG_DONTWAIT), instead of waiting for bytes.
    @inline(__always)
    public func recv(_ h: IOHandle, op: UInt8, fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int,
                     dontWait: Bool = false) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_recv(sqe, fd, buffer, count, dontWait ? Int32(MSG_DONTWAIT) : 0)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// send(2) of `count` bytes; a peer that is gone is an error result, never SIGPIPE.
    @inline(__always)
    public func send(_ h: IOHandle, op: UInt8, fd: Int32, from buffer: UnsafeRawPointer, count: Int) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_send(sqe, fd, buffer, count, Int32(MSG_NOSIGNAL))
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Receives at most `max` bytes into `buffer`'s free room (compacted first) and pins the
    /// buffer; the completion's handler unpins it and calls `didWrite`. Returns the bytes asked
    /// for: 0 when there is no room, and then nothing is submitted.
    @discardableResult
    public func recv(_ h: IOHandle, op: UInt8, fd: Int32, into buffer: ByteBuffer, max: Int = .max,
                     dontWait: Bool = false) -> Int {
        guard isLive(h) else { return 0 }
        let target = buffer.writePointer
        let count = Swift.min(buffer.contiguousWritable, max)
        guard count > 0 else { return 0 }
        buffer.pinned = true
        recv(h, op: op, fd: fd, into: target, count: count, dontWait: dontWait)
        return count
    }

    /// Sends all of `buffer`'s readable bytes and pins it; the completion's handler unpins it and
    /// consumes what went out. Returns the bytes asked for: 0 when it is empty (nothing submitted).
    @discardableResult
    public func send(_ h: IOHandle, op: UInt8, fd: Int32, from buffer: ByteBuffer) -> Int {
        guard isLive(h) else { return 0 }
        let count = buffer.readable
        guard count > 0 else { return 0 }
        buffer.pinned = true
        send(h, op: op, fd: fd, from: buffer.readPointer, count: count)
        return count
    }

    /// connect(2) to `address`, which `slot` holds until the kernel has read it.
    public func connect(_ h: IOHandle, op: UInt8, fd: Int32, to address: SocketAddress, slot: AddressSlot) {
        guard isLive(h) else { return }
        slot.hold(address)
        let sqe = ring.nextSQE()
        slot.pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            io_uring_prep_connect(sqe, fd, $0, slot.length)
        }
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Multishot accept: completes once per accepted connection (result = new fd) while `more`.
    public func acceptMultishot(_ h: IOHandle, op: UInt8, fd: Int32) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_multishot_accept(sqe, fd, nil, nil, Int32(SOCK_CLOEXEC.rawValue))
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Waits until `fd` is ready; result is the ready mask (poll(2) events).
    /// `linkNext`: the next submission runs after this one completes, whatever its result
    /// (IOSQE_IO_HARDLINK). Call `reserve(_:)` first so a chain is never split across submits.
    @inline(__always)
    public func poll(_ h: IOHandle, op: UInt8, fd: Int32, for readiness: Readiness, linkNext: Bool = false) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_poll_add(sqe, fd, UInt32(UInt16(bitPattern: readiness.events)))
        if linkNext { io_uring_sqe_set_flags(sqe, veil_iosqe_io_hardlink) }
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// Makes sure the next `count` submissions fit in the queue without an intermediate submit.
    @inline(__always)
    public func reserve(_ count: UInt32) {
        ring.reserve(count)
    }

    /// shutdown(2) of the write side (SHUT_WR): the peer reads the end of the stream (a FIN).
    public func shutdownWrite(_ h: IOHandle, op: UInt8, fd: Int32) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        io_uring_prep_shutdown(sqe, fd, Int32(SHUT_WR))
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
}
