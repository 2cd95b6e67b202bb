// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// Blocking socket calls for threads that are not rings (the metrics server, the resolvers'
/// background queue, the shutdown backlog): never called on a ring thread. Results follow the
/// rings' convention: a count, or -errno.
extension Socket {
    /// Waits at most `timeoutMillis` for `fd` to be ready: true when it is, false when the time
    /// ran out or a signal interrupted the wait (EINTR); other poll failures throw.
    public static func wait(_ fd: Int32, for readiness: Readiness, timeoutMillis: Int32) throws(SystemError) -> Bool {
        var pfd = pollfd(fd: fd, events: readiness.events, revents: 0)
        let rc = poll(&pfd, 1, timeoutMillis)
        if rc > 0 { return true }
        if rc < 0 && errno != EINTR { throw SystemError("poll") }
        return false
    }

    /// Starts connecting `fd` (non-blocking) to `address`: true when connected at once, false
    /// when in progress (wait until writable, then read `pendingError`). Throws any other failure.
    public static func startConnect(_ fd: Int32, to address: SocketAddress) throws(SystemError) -> Bool {
        var storage = address.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, address.length) }
        }
        if rc == 0 { return true }
        guard errno == EINPROGRESS else { throw SystemError("connect") }
        return false
    }

    /// The socket's pending error (SO_ERROR): after a connect in progress, 0 when it succeeded,
    /// else its errno.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err
    }

    /// send(2) with MSG_NOSIGNAL: bytes sent, or -errno.
    public static func send(_ fd: Int32, _ bytes: UnsafeRawPointer, count: Int) -> Int {
        let n = Glibc.send(fd, bytes, count, Int32(MSG_NOSIGNAL))
        return n >= 0 ? n : -Int(errno)
    }

    /// recv(2): bytes received, 0 at the end of the stream, or -errno.
    public static func receive(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        let n = recv(fd, buffer, count, 0)
        return n >= 0 ? n : -Int(errno)
    }

    /// Acknowledges every segment at once (TCP_QUICKACK, which the kernel clears again by
    /// itself): a server that writes one reply in two segments is not kept waiting for our
    /// delayed ACK (40 ms).
    public static func setQuickAck(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, 1)
    }

    /// Blocking receives on `fd` fail with EAGAIN after `seconds` (SO_RCVTIMEO).
    public static func setReceiveTimeout(_ fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}
