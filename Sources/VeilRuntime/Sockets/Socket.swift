// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// Thin, synchronous socket calls: set-up (creation and options) for every socket, and the
/// few blocking transfers of threads that are not rings (Socket+OffRing.swift). Data on a ring
/// moves through `EventLoop` operations.
public enum Socket {
    /// A TCP socket of the address's family, close-on-exec; `nonBlocking` sets O_NONBLOCK.
    public static func makeTCP(family: Int32, nonBlocking: Bool = false) throws(SystemError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        let fd = socket(family, type, 0)
        guard fd >= 0 else { throw SystemError("socket") }
        return fd
    }

    /// A connected pair of Unix stream sockets, close-on-exec: the plaintext bridge between a
    /// TLS front (HTTPS listener, relay tunnel) and the connection it carries.
    public static func pair() throws(SystemError) -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw SystemError("socketpair")
        }
        return (fds[0], fds[1])
    }

    /// A listening TCP socket with SO_REUSEADDR, bound to `address`.
    public static func listen(on address: SocketAddress, backlog: Int32 = 1024) throws(SystemError) -> Int32 {
        let fd = try makeTCP(family: address.family)
        setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
        var addr = address.storage
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, address.length) }
        }
        guard rc == 0 else {
            let err = SystemError("bind \(address)")
            Glibc.close(fd)
            throw err
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let err = SystemError("listen \(address)")
            Glibc.close(fd)
            throw err
        }
        return fd
    }

    @discardableResult
    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var v = value
        return setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    public static func setNoDelay(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    public static func setNonBlocking(_ fd: Int32) {
        // FIONBIO sets O_NONBLOCK in one call (fcntl needs F_GETFL, then F_SETFL).
        var on: Int32 = 1
        _ = ioctl(fd, UInt(FIONBIO), &on)
    }

    /// recv(2) now, never waiting (MSG_DONTWAIT): the bytes read, 0 at the end of the stream,
    /// or -errno (-EAGAIN: nothing there yet).
    public static func receiveNow(_ fd: Int32, into buffer: UnsafeMutableRawPointer, count: Int) -> Int32 {
        let n = Glibc.recv(fd, buffer, count, Int32(MSG_DONTWAIT))
        return n >= 0 ? Int32(clamping: n) : -errno
    }

    /// send(2) now, never waiting (MSG_DONTWAIT; a peer that is gone is an error, never
    /// SIGPIPE): the bytes sent (maybe fewer than `count`), or -errno (-EAGAIN: no room).
    public static func sendNow(_ fd: Int32, from buffer: UnsafeRawPointer, count: Int) -> Int32 {
        let n = Glibc.send(fd, buffer, count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        return n >= 0 ? Int32(clamping: n) : -errno
    }

    /// shutdown(SHUT_WR) now: the peer reads the end of the stream (a FIN). Never blocks on a
    /// TCP socket. 0, or -errno.
    @discardableResult
    public static func shutdownWrite(_ fd: Int32) -> Int32 {
        Glibc.shutdown(fd, Int32(SHUT_WR)) == 0 ? 0 : -errno
    }

    /// The local address of a bound socket.
    public static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: len) : nil
    }

    /// The peer address of a connected socket.
    public static func peerAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) }
        }
        return rc == 0 ? SocketAddress(storage: storage, length: len) : nil
    }

    /// Whether `fd` is a TCP socket (kTLS attaches only to those; a socketpair is not one).
    public static func isTCP(_ fd: Int32) -> Bool {
        var domain: Int32 = 0
        var protocolNumber: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 else { return false }
        len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocolNumber, &len) == 0 else { return false }
        return (domain == AF_INET || domain == AF_INET6) && protocolNumber == Int32(IPPROTO_TCP)
    }

    /// A connection already waiting in `listenFD`'s queue, without blocking (nil: none).
    public static func acceptQueued(_ listenFD: Int32) -> Int32? {
        setNonBlocking(listenFD)
        let fd = accept(listenFD, nil, nil)
        return fd >= 0 ? fd : nil
    }

    /// Sends `bytes` if they fit at once, reads and drops whatever the peer has sent already (so
    /// that closing sends a FIN, not a reset that could cost the peer the answer), then shuts
    /// the write side and closes. Never blocks.
    public static func answerAndClose(_ fd: Int32, _ bytes: [UInt8]) {
        setNonBlocking(fd)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var scratch = [UInt8](repeating: 0, count: 4096)
        while scratch.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
        _ = Glibc.shutdown(fd, Int32(SHUT_WR))
        close(fd)
    }

    /// Sends all of `bytes` on a (possibly non-blocking) socket, waiting at most `timeoutMillis`
    /// for room each time; false when it could not.
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8], timeoutMillis: Int32) -> Bool {
        var sent = 0
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        while sent < bytes.count {
            guard poll(&pfd, 1, timeoutMillis) > 0 else { return false }
            let n = bytes.withUnsafeBytes { raw in
                raw.baseAddress.map { Glibc.send(fd, $0 + sent, raw.count - sent, Int32(MSG_NOSIGNAL)) } ?? -1
            }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Closes a descriptor, ignoring EINTR.
    public static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }
}
