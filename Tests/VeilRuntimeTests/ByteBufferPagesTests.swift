import Testing
@testable import VeilRuntime

/// A page-backed ByteBuffer gives its pages back only while it holds no bytes, and works as before
/// afterwards.
@Suite("ByteBuffer: page-backed")
struct ByteBufferPagesTests {
    @Test func releasesOnlyWhenEmpty() {
        let b = ByteBuffer(pageBackedCapacity: 64 << 10)
        let bytes = [UInt8](repeating: 7, count: 10_000)
        #expect(b.append(bytes) == bytes.count)
        #expect(!b.releasePages(), "holds bytes: kept")
        var out = [UInt8](repeating: 0, count: 10_000)
        #expect(b.read(into: &out, max: out.count) == bytes.count)
        #expect(out == bytes)
        #expect(b.releasePages())
        #expect(b.isEmpty && b.writable == 64 << 10)
        #expect(b.append([1, 2, 3]) == 3)
        var three = [UInt8](repeating: 0, count: 3)
        #expect(b.read(into: &three, max: 3) == 3)
        #expect(three == [1, 2, 3])
    }

    @Test func anAllocatedBufferIsNeverReleased() {
        let b = ByteBuffer(capacity: 4096)
        #expect(!b.releasePages())
    }

    @Test func scratchPagesGiveBackTheWholePagesInsideOnly() {
        let count = 18_437
        let b = UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 16)
        defer { b.deallocate() }
        b.initializeMemory(as: UInt8.self, repeating: 0xAB, count: count)
        let released = ScratchPages.release(b, count: count)
        #expect(released >= 3 * 4096 && released <= count)
        // The partial pages at both ends are untouched; the buffer is still usable.
        #expect(b.load(as: UInt8.self) == 0xAB && b.load(fromByteOffset: count - 1, as: UInt8.self) == 0xAB)
        b.storeBytes(of: 7, toByteOffset: count / 2, as: UInt8.self)
        #expect(b.load(fromByteOffset: count / 2, as: UInt8.self) == 7)
        #expect(ScratchPages.release(b, count: 100) == 0, "no whole page inside")
    }
}

/// BufferPool caches what is given back, and shrinks to what it is told to keep after a burst.
@Suite("BufferPool")
struct BufferPoolTests {
    @Test func shrinksAfterABurst() {
        let pool = BufferPool(bufferSize: 1024, maxCached: 8)
        let taken = (0..<10).map { _ in pool.take() }
        #expect(pool.outstanding == 10 && pool.cached == 0)
        for b in taken { pool.give(b) }
        #expect(pool.outstanding == 0 && pool.cached == 8, "at most maxCached kept")
        pool.shrink(keeping: 2)
        #expect(pool.cached == 2)
        let again = pool.take()
        #expect(pool.cached == 1 && pool.outstanding == 1)
        pool.give(again)
        pool.shrink(keeping: 5)
        #expect(pool.cached == 2, "shrinking never grows")
    }
}
