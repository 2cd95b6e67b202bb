import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import VeilRuntime

/// The pipe pool hands a pipe out again only when it is indistinguishable from a fresh one
/// (empty, never grown), keeps at most its limit, and closes what it does not keep. Real pipes.
@Suite("PipePool")
struct PipePoolTests {
    /// A pipe end's inode (pipefs numbers are not reused soon), to tell whether its descriptor
    /// still refers to it: tests run in parallel, so a closed descriptor's number may already
    /// belong to something else.
    private func inode(_ fd: Int32) -> UInt {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt(st.st_ino) : 0
    }

    /// Whether both ends of `p` are still open on the pipe whose read end had inode `ino`.
    private func isOpen(_ p: Pipe, _ ino: UInt) -> Bool { ino != 0 && inode(p.readFD) == ino && inode(p.writeFD) == ino }

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
        let ino = inode(p.readFD)
        #expect(fill(p, 10) == 10)
        #expect(p.queuedBytes == 10)
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p, ino))
        let next = try pool.take()
        #expect(next.queuedBytes == 0)
        pool.give(next)
    }

    @Test func aGrownPipeIsClosedNotReused() throws {
        let pool = PipePool(limit: 4)
        var p = try pool.take()
        let ino = inode(p.readFD)
        let fresh = p.capacity
        guard p.grow(to: fresh * 4) else { return }  // the kernel may refuse (pipe limits): nothing to check
        #expect(p.capacity > fresh)
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p, ino))
    }

    @Test func keepsAtMostItsLimit() throws {
        let pool = PipePool(limit: 2)
        let pipes = try (0..<3).map { _ in try pool.take() }
        let inos = pipes.map { inode($0.readFD) }
        for p in pipes { pool.give(p) }
        #expect(pool.count == 2)
        #expect(isOpen(pipes[0], inos[0]) && isOpen(pipes[1], inos[1]))
        #expect(!isOpen(pipes[2], inos[2]))
        pool.releaseAll()
    }

    @Test func shrinkAndReleaseCloseThePooledPipes() throws {
        let pool = PipePool(limit: 8)
        let pipes = try (0..<5).map { _ in try pool.take() }
        let inos = pipes.map { inode($0.readFD) }
        for p in pipes { pool.give(p) }
        pool.shrink(keeping: 2)
        #expect(pool.count == 2)
        #expect((0..<5).filter { isOpen(pipes[$0], inos[$0]) }.count == 2)
        pool.releaseAll()
        #expect(pool.count == 0)
        #expect((0..<5).allSatisfy { !isOpen(pipes[$0], inos[$0]) })
    }

    @Test func aZeroLimitKeepsNothing() throws {
        let pool = PipePool(limit: 0)
        let p = try pool.take()
        let ino = inode(p.readFD)
        pool.give(p)
        #expect(pool.count == 0)
        #expect(!isOpen(p, ino))
    }
}
