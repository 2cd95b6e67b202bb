// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

extension Socket {
    /// `count` listening sockets on one address, one per worker ring, joined in one SO_REUSEPORT
    /// group: the kernel spreads new connections over them by a hash of the connection's
    /// addresses and ports. With `count` 1, one plain listener (`listen(on:)`).
    ///
    /// The address is first bound by a probe socket without SO_REUSEPORT, so that a port someone
    /// already listens on fails with the same `bind` error as a single listener (without the
    /// probe, a second Veil of the same user would silently join this group and take half the
    /// connections), and so that port 0 gets its ephemeral port; the probe is closed and the
    /// group binds that port. Only sockets of the same effective UID can join a group.
    public static func listenGroup(on address: SocketAddress, count: Int, backlog: Int32 = 1024) throws(SystemError) -> [Int32] {
        guard count > 1 else { return [try listen(on: address, backlog: backlog)] }
        let probe = try makeTCP(family: address.family)
        setOption(probe, SOL_SOCKET, SO_REUSEADDR, 1)
        if let err = bind(probe, address) {
            Glibc.close(probe)
            throw err
        }
        let port = localAddress(probe)?.port ?? address.port
        Glibc.close(probe)
        var target = address
        target.port = port
        var fds: [Int32] = []
        for _ in 0..<count {
            do throws(SystemError) {
                let fd = try makeTCP(family: address.family)
                fds.append(fd)
                setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
                guard setOption(fd, SOL_SOCKET, SO_REUSEPORT, 1) else { throw SystemError("setsockopt SO_REUSEPORT") }
                if let err = bind(fd, target) { throw err }
                guard Glibc.listen(fd, backlog) == 0 else { throw SystemError("listen \(target)") }
            } catch {
                for fd in fds { Glibc.close(fd) }
                throw error
            }
        }
        return fds
    }

    /// bind(2): nil, or the error named as `listen(on:)` names it.
    private static func bind(_ fd: Int32, _ address: SocketAddress) -> SystemError? {
        var addr = address.storage
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, address.length) }
        }
        return rc == 0 ? nil : SystemError("bind \(address)")
    }
}
