internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking, close-on-exec pipe for the splice relay (socket -> pipe -> socket). Opens at
/// the kernel's default capacity (64 KiB); `grow` asks for more (F_SETPIPE_SZ).
public struct Pipe {
    public private(set) var readFD: Int32
    public private(set) var writeFD: Int32
    /// Bytes the pipe holds when full.
    public private(set) var capacity: Int
    /// The capacity the kernel gave the pipe when it was made (before any `grow`).
    public let initialCapacity: Int

    /// pipe2(2) with O_NONBLOCK | O_CLOEXEC.
    public init() throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        var capacity: Int32 = 0
        let rc = veil_pipe(&fds, &capacity)
        guard rc == 0 else { throw SystemError("pipe2", code: -rc) }
        readFD = fds[0]
        writeFD = fds[1]
        self.capacity = Int(capacity)
        initialCapacity = Int(capacity)
    }

    /// Asks for a capacity of `size` bytes; false when the kernel refuses (EPERM past the
    /// per-user pipe limits, fs.pipe-user-pages-soft), and the capacity stays as it was.
    public mutating func grow(to size: Int) -> Bool {
        let r = veil_pipe_resize(writeFD, Int32(clamping: size))
        guard r > 0 else { return false }
        capacity = Int(r)
        return true
    }

    /// splice(2) from socket `fd` into the pipe, now (SPLICE_F_NONBLOCK: never waits; the
    /// caller polled first): the bytes moved, 0 at the end of the stream, or -errno.
    public func spliceIn(from fd: Int32, count: Int) -> Int32 {
        veil_splice_now(fd, writeFD, UInt32(clamping: count))
    }

    /// splice(2) from the pipe into socket `fd`, now (SPLICE_F_NONBLOCK): the bytes moved, or
    /// -errno (-EAGAIN: the socket's buffer is full).
    public func spliceOut(to fd: Int32, count: Int) -> Int32 {
        veil_splice_now(readFD, fd, UInt32(clamping: count))
    }

    /// The bytes waiting in the pipe (FIONREAD), or nil when the kernel cannot say.
    public var queuedBytes: Int? {
        var n: Int32 = 0
        return ioctl(readFD, UInt(FIONREAD), &n) == 0 ? Int(n) : nil
    }

    /// Closes both ends (once; later calls do nothing).
    public mutating func close() {
        Socket.close(readFD)
        Socket.close(writeFD)
        readFD = -1
        writeFD = -1
    }
}
