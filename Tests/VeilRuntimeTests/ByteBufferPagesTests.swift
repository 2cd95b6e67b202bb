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
}
