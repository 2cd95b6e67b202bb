import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import VeilRuntime

/// The pipe pool hands a pipe out again only when it is indistinguishable from a fresh one
/// (empty, never grown), keeps at most its limit, and closes what it does not keep. Real pipes.
@Suite("PipePool")
struct PipePoolTests {
    /// Whether `fd` is an open descriptor.
    private func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    /// Writes `count` bytes into the pipe's write end.
    private func fill(_ p: Pipe, _ count: Int) -> Int {
        let bytes = [UInt8](repeating: 0x5A, count: count)
        return bytes.withUnsafeBytes { write(p.writeFD, $0.baseAddress, count) }
    }

    @Test func anEmptyPipeIsReused() throws {
        let pool = PipePool(limit: 4)
        let p = try pool.take()
        #expect(p.queuedBytes == 0)
        #expect(p.capacity == p.initialCapacity)
        // Bytes that went through and were read out leave it empty: it comes back.
        #expect(fill(p, 1000) == 1000)
        var sink = [UInt8](repeating: 0, count: 1000)
        #expect(sink.withUnsafeMutableBytes { read(p.readFD, $0.baseAddress, 1000) } == 1000)
        pool.give(p)
        #expect(pool.count == 1)
        let again = try pool.take()
        #expect(again.readFD == p.readFD && again.writeFD == p.writeFD)
        #expect(again.queuedBytes == 0 && again.capacity == p.initialCapacity)
        #expect(pool.count == 0)
        pool.give(again)
    }

    @Test func aPipeWithBytesLeftIsClosedNotReused() throws {
        let pool = PipePool(limit: 4)
        let p = try pool.take()
        #expect(fill(p, 10) == 10)
        #expect(p.queuedBytes == 10)
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p.readFD) && !isOpen(p.writeFD))
        let next = try pool.take()
        #expect(next.queuedBytes == 0)
        pool.give(next)
    }

    @Test func aGrownPipeIsClosedNotReused() throws {
        let pool = PipePool(limit: 4)
        var p = try pool.take()
        let fresh = p.capacity
        guard p.grow(to: fresh * 4) else { return }  // the kernel may refuse (pipe limits): nothing to check
        #expect(p.capacity > fresh)
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p.readFD))
    }

    @Test func keepsAtMostItsLimit() throws {
        let pool = PipePool(limit: 2)
        let pipes = try (0..<3).map { _ in try pool.take() }
        for p in pipes { pool.give(p) }
        #expect(pool.count == 2)
        #expect(isOpen(pipes[0].readFD) && isOpen(pipes[1].readFD))
        #expect(!isOpen(pipes[2].readFD) && !isOpen(pipes[2].writeFD))
        pool.releaseAll()
    }

    @Test func shrinkAndReleaseCloseThePooledPipes() throws {
        let pool = PipePool(limit: 8)
        let pipes = try (0..<5).map { _ in try pool.take() }
        for p in pipes { pool.give(p) }
        pool.shrink(keeping: 2)
        #expect(pool.count == 2)
        #expect(pipes.filter { isOpen($0.readFD) }.count == 2)
        pool.releaseAll()
        #expect(pool.count == 0)
        #expect(pipes.allSatisfy { !isOpen($0.readFD) && !isOpen($0.writeFD) })
    }

    @Test func aZeroLimitKeepsNothing() throws {
        let pool = PipePool(limit: 0)
        let p = try pool.take()
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p.readFD))
    }
}
