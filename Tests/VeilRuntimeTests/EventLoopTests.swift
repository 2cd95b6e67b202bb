import Testing
import Synchronization
@testable import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Drives a real io_uring on the test's thread with real sockets.
@Suite struct EventLoopTests {
    final class Echo: IOHandler {
        var handle = IOHandle.none
        let fd: Int32
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 1)
        var received: [UInt8] = []
        var results: [(UInt8, Int32)] = []
        var expired = 0
        var messages: [String] = []
        init(fd: Int32) { self.fd = fd }
        deinit { buffer.deallocate() }

        func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
            results.append((op, result))
            if op == 1 && result > 0 {
                received += Array(UnsafeRawBufferPointer(start: buffer, count: Int(result)))
                loop.stop()
            }
        }
        func deadlineExpired(loop: EventLoop) { expired += 1; loop.stop() }
        func receive(_ message: any Sendable, loop: EventLoop) {
            if let s = message as? String { messages.append(s) }
            loop.stop()
        }
    }

    private func pair() -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        return (fds[0], fds[1])
    }

    @Test func recvCompletesWithTheBytesSent() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let (a, b) = pair()
        defer { close(a); close(b) }
        let h = Echo(fd: a)
        h.handle = loop.register(h)
        loop.recv(h.handle, op: 1, fd: a, into: h.buffer, count: 64)
        #expect(loop.inFlight(h.handle) == 1)
        _ = "hello".withCString { write(b, $0, 5) }
        loop.run()
        #expect(h.received == Array("hello".utf8))
        #expect(loop.inFlight(h.handle) == 0)
        loop.release(h.handle)
    }

    @Test func cancelAllEndsPendingOperations() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let (a, b) = pair()
        defer { close(a); close(b) }
        let h = Echo(fd: a)
        h.handle = loop.register(h)
        loop.recv(h.handle, op: 2, fd: a, into: h.buffer, count: 64)
        loop.cancelAll(h.handle, op: 3, fd: a)
        loop.setDeadline(h.handle, MonotonicClock.now() + 300_000_000)
        loop.run()
        #expect(h.results.contains { $0.0 == 2 && $0.1 == -ECANCELED })
        #expect(loop.inFlight(h.handle) == 0)
    }

    @Test func deadlineFiresOnce() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let h = Echo(fd: -1)
        h.handle = loop.register(h)
        let start = MonotonicClock.now()
        loop.setDeadline(h.handle, start + 150_000_000)
        loop.run()
        #expect(h.expired == 1)
        #expect(MonotonicClock.now() - start >= 150_000_000)
    }

    @Test func messagesFromAnotherThreadReachTheHandler() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let h = Echo(fd: -1)
        h.handle = loop.register(h)
        let remote = loop.remote
        let handle = h.handle
        let t = Thread.spawn { remote.deliver("resolved", to: handle) }
        loop.run()
        t.join()
        #expect(h.messages == ["resolved"])
    }

    @Test func completionsForAReleasedSlotAreIgnored() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let (a, b) = pair()
        defer { close(a); close(b) }
        let first = Echo(fd: a)
        first.handle = loop.register(first)
        loop.recv(first.handle, op: 1, fd: a, into: first.buffer, count: 64)
        loop.cancelAll(first.handle, op: 3, fd: a)
        // Drain the cancellation, then release and reuse the slot.
        loop.setDeadline(first.handle, MonotonicClock.now() + 100_000_000)
        loop.run()
        #expect(loop.inFlight(first.handle) == 0)
        loop.release(first.handle)
        let second = Echo(fd: a)
        second.handle = loop.register(second)
        #expect(second.handle.slot == first.handle.slot)
        #expect(second.handle.generation != first.handle.generation)
    }

    /// A handler that ends itself from inside a completion and then goes on, as a connection
    /// whose first read closes it while its caller still starts the other direction.
    final class Ending: IOHandler {
        var handle = IOHandle.none
        let fd: Int32
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 1)
        var completions = 0
        var finalized = 0
        var finalizedInsideComplete = false
        var insideComplete = false
        init(fd: Int32) { self.fd = fd }
        deinit { buffer.deallocate() }

        func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
            insideComplete = true
            defer { insideComplete = false }
            completions += 1
            loop.retire(handle, cancelling: [fd])
            // What a re-entrant caller does next: nothing of it may reach the kernel.
            loop.recv(handle, op: 2, fd: fd, into: buffer, count: 64)
            #expect(loop.inFlight(handle) == 0)
        }
        func finalize(loop: EventLoop) {
            finalized += 1
            finalizedInsideComplete = insideComplete
            loop.stop()
        }
    }

    @Test func aRetiredHandlerSubmitsNothingAndIsFinalizedOnceAfterItsEvent() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let (a, b) = pair()
        defer { close(a); close(b) }
        let h = Ending(fd: a)
        h.handle = loop.register(h)
        loop.recv(h.handle, op: 1, fd: a, into: h.buffer, count: 64)
        _ = "x".withCString { write(b, $0, 1) }
        loop.run()
        #expect(h.completions == 1)
        #expect(h.finalized == 1)
        #expect(!h.finalizedInsideComplete)
        #expect(!loop.isLive(h.handle))
        #expect(loop.liveHandlers == 0)
    }

    @Test func retiringWithOperationsInFlightCancelsThemAndWaits() throws {
        let loop = try EventLoop(index: 0, entries: 64)
        let (a, b) = pair()
        defer { close(a); close(b) }
        let h = Ending(fd: a)
        h.handle = loop.register(h)
        loop.recv(h.handle, op: 1, fd: a, into: h.buffer, count: 64)
        loop.recv(h.handle, op: 1, fd: a, into: h.buffer, count: 64)
        #expect(loop.inFlight(h.handle) == 2)
        loop.retire(h.handle, cancelling: [a])
        #expect(loop.inFlight(h.handle) == 3)  // two reads and the cancellation
        loop.run()
        #expect(h.completions == 0)  // cancelled reads are not delivered to a retired handler
        #expect(h.finalized == 1)
    }

    @Test func userDataRoundTrips() {
        let h = IOHandle(slot: 123_456, generation: 0xABCDEF)
        let d = IOHandle.decode(h.userData(op: 0x7F))
        #expect(d.slot == 123_456 && d.generation == 0xABCDEF && d.op == 0x7F)
    }
}

/// A joinable thread for tests.
struct Thread {
    let tid: pthread_t
    static func spawn(_ body: @escaping @Sendable () -> Void) -> Thread {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        var tid = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&tid, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, box)
        return Thread(tid: tid)
    }
    func join() { pthread_join(tid, nil) }
}
