import Testing
@testable import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `Socket.listenGroup`: one listener per worker in an SO_REUSEPORT group, on real sockets.
@Suite("listen group (SO_REUSEPORT, one listener per worker)", .serialized)
struct ListenGroupTests {
    private func connectClient(_ address: SocketAddress) throws -> Int32 {
        let fd = try Socket.makeTCP(family: address.family)
        #expect(try Socket.startConnect(fd, to: address))
        return fd
    }

    @Test func portZeroGivesEveryListenerTheSamePortAndBothReceiveConnections() throws {
        let fds = try Socket.listenGroup(on: .loopback(port: 0), count: 2)
        defer { for fd in fds { Socket.close(fd) } }
        #expect(fds.count == 2)
        let a = try #require(Socket.localAddress(fds[0]))
        let b = try #require(Socket.localAddress(fds[1]))
        #expect(a.port != 0)
        #expect(a == b)
        // The kernel spreads connections by a hash of the 4-tuple: 64 clients reach both.
        var clients: [Int32] = []
        defer { for fd in clients { Socket.close(fd) } }
        for _ in 0..<64 { clients.append(try connectClient(a)) }
        var counts = [0, 0]
        for (i, fd) in fds.enumerated() {
            while let c = Socket.acceptQueued(fd) { counts[i] += 1; Socket.close(c) }
        }
        #expect(counts[0] + counts[1] == 64)
        #expect(counts[0] > 0 && counts[1] > 0, "counts \(counts)")
    }

    @Test func aPortInUseFailsWithTheSingleListenersError() throws {
        let taken = try Socket.listen(on: .loopback(port: 0))
        defer { Socket.close(taken) }
        let address = try #require(Socket.localAddress(taken))
        var single: SystemError?
        do { Socket.close(try Socket.listen(on: address)) } catch { single = error }
        var group: SystemError?
        do { for fd in try Socket.listenGroup(on: address, count: 2) { Socket.close(fd) } } catch { group = error }
        #expect(single != nil)
        #expect(group == single)
        #expect(group?.code == EADDRINUSE)
    }

    @Test func aSecondGroupOnTheSamePortDoesNotJoinTheFirst() throws {
        let first = try Socket.listenGroup(on: .loopback(port: 0), count: 2)
        defer { for fd in first { Socket.close(fd) } }
        let address = try #require(Socket.localAddress(first[0]))
        var error: SystemError?
        do { for fd in try Socket.listenGroup(on: address, count: 2) { Socket.close(fd) } } catch let e { error = e }
        #expect(error?.code == EADDRINUSE)
        #expect(error?.description == "bind \(address): \(SystemError.message(of: EADDRINUSE))")
    }

    @Test func oneWorkerIsOnePlainListener() throws {
        let fds = try Socket.listenGroup(on: .loopback(port: 0), count: 1)
        defer { for fd in fds { Socket.close(fd) } }
        #expect(fds.count == 1)
        var on: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(fds[0], SOL_SOCKET, SO_REUSEPORT, &on, &len) == 0)
        #expect(on == 0)
    }
}
