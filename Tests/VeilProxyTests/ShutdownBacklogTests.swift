import Testing
@testable import VeilProxy
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Clients queued on every worker's listener when the workers have stopped are answered 503
/// with one summary line each, none reset (closing a listener of an SO_REUSEPORT group resets
/// what is queued on it unless it was drained first). Real sockets on loopback.
@Suite("shutdown backlog: every worker's listener is drained", .serialized)
struct ShutdownBacklogTests {
    @Test func queuedClientsOnEveryListenerAreAnswered503() throws {
        let fds = try Socket.listenGroup(on: .loopback(port: 0), count: 2)
        let address = try #require(Socket.localAddress(fds[0]))
        let request = Array("CONNECT example.test:443 HTTP/1.1\r\n\r\n".utf8)
        var clients: [Int32] = []
        defer { for fd in clients { Socket.close(fd) } }
        for _ in 0..<40 {
            let fd = try Socket.makeTCP(family: address.family)
            #expect(try Socket.startConnect(fd, to: address))
            Socket.setReceiveTimeout(fd, seconds: 5)
            _ = request.withUnsafeBytes { Socket.send(fd, $0.baseAddress!, count: $0.count) }
            clients.append(fd)
        }
        // Both listeners hold some of them (the kernel hashes the 4-tuple).
        var log: [Int32] = [-1, -1]
        #expect(pipe(&log) == 0)
        defer { Socket.close(log[0]) }
        var id: UInt64 = 0
        ShutdownBacklog(config: ProxyConfiguration(), recordLogFD: log[1], nextID: { id += 1; return id })
            .refuseAndClose(listenFDs: fds, tlsListenFDs: [])
        Socket.close(log[1])
        var answered = 0
        var buffer = [UInt8](repeating: 0, count: 4096)
        for fd in clients {
            let n = buffer.withUnsafeMutableBytes { Socket.receive(fd, into: $0.baseAddress!, count: $0.count) }
            if n > 0, String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix("HTTP/1.1 503 ") { answered += 1 }
        }
        #expect(answered == 40)
        var text: [UInt8] = []
        while true {
            let n = buffer.withUnsafeMutableBytes { read(log[0], $0.baseAddress!, $0.count) }
            guard n > 0 else { break }
            text += buffer[0..<n]
        }
        let lines = String(decoding: text, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 40)
        #expect(lines.allSatisfy { $0.contains("close=shutdown") })
    }
}
