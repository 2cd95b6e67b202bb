#if canImport(Glibc)
import Glibc
#endif

/// A fixed-capacity byte buffer: bytes are written at `writePointer` and read from
/// `readPointer`. Allocated once; compacts in place so nothing is allocated per operation.
///
/// A page-backed buffer is its own anonymous mapping: memory is taken page by page as bytes are
/// written, and `releasePages()` gives it back to the kernel while the buffer is empty (an idle
/// connection's TLS buffers), without moving the buffer.
public final class ByteBuffer {
    public let capacity: Int
    public let base: UnsafeMutableRawPointer
    /// `base` is an mmap of `mappedLength` bytes (else 0: allocated).
    private let mappedLength: Int
    public private(set) var readIndex = 0
    public private(set) var writeIndex = 0
    /// While an io_uring recv writes into this buffer or a send reads from it, its bytes must not
    /// move: a pinned buffer neither compacts nor rewinds when emptied.
    public var pinned = false

    public init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
        mappedLength = 0
    }

    /// A buffer of its own pages (`capacity` rounded up to whole pages), or an allocated one if
    /// the mapping fails.
    public init(pageBackedCapacity capacity: Int) {
        self.capacity = capacity
        let page = ByteBuffer.pageSize
        let length = (capacity + page - 1) / page * page
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if let p, p != MAP_FAILED {
            base = p
            mappedLength = length
        } else {
            base = .allocate(byteCount: capacity, alignment: 16)
            mappedLength = 0
        }
    }

    deinit {
        if mappedLength > 0 { munmap(base, mappedLength) } else { base.deallocate() }
    }

    static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)

    /// Gives a page-backed buffer's memory back to the kernel when it holds no bytes (the next
    /// write touches fresh zero pages); returns whether it did. Safe while a recv into the buffer
    /// is in flight: the kernel writes into the same addresses when data comes.
    @discardableResult
    public func releasePages() -> Bool {
        guard mappedLength > 0, writeIndex == readIndex else { return false }
        if !pinned { readIndex = 0; writeIndex = 0 }
        return madvise(base, mappedLength, MADV_DONTNEED) == 0
    }

    @inline(__always) public var readable: Int { writeIndex - readIndex }
    @inline(__always) public var isEmpty: Bool { writeIndex == readIndex }
    /// Room at the end (after compacting when it helps).
    @inline(__always) public var writable: Int { pinned ? capacity - writeIndex : capacity - writeIndex + readIndex }
    @inline(__always) public var readPointer: UnsafeMutableRawPointer { base + readIndex }

    /// Where the next bytes go; compacts first so `writable` bytes are contiguous.
    @inline(__always) public var writePointer: UnsafeMutableRawPointer {
        if !pinned && readIndex > 0 && writeIndex + 1 > capacity / 2 { compact() }
        return base + writeIndex
    }

    /// Contiguous room at `writePointer` (call `writePointer` first).
    @inline(__always) public var contiguousWritable: Int { capacity - writeIndex }

    @inline(__always) public func didWrite(_ n: Int) { writeIndex += n }

    @inline(__always) public func consume(_ n: Int) {
        readIndex += n
        if readIndex == writeIndex && !pinned { readIndex = 0; writeIndex = 0 }
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    @discardableResult
    public func append(_ bytes: UnsafeRawPointer, count: Int) -> Int {
        _ = writePointer
        let n = min(count, contiguousWritable)
        (base + writeIndex).copyMemory(from: bytes, byteCount: n)
        writeIndex += n
        return n
    }

    /// Appends as much of `bytes` as fits; returns how many were taken.
    @discardableResult
    public func append(_ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw in
            guard let p = raw.baseAddress else { return 0 }
            return append(p, count: raw.count)
        }
    }

    /// Copies up to `max` readable bytes out and consumes them.
    public func read(into target: UnsafeMutableRawPointer, max: Int) -> Int {
        let n = min(max, readable)
        target.copyMemory(from: base + readIndex, byteCount: n)
        consume(n)
        return n
    }

    public func compact() {
        guard readIndex > 0, !pinned else { return }
        let n = readable
        if n > 0 { base.copyMemory(from: base + readIndex, byteCount: n) }
        readIndex = 0
        writeIndex = n
    }

    public func clear() { readIndex = 0; writeIndex = 0 }
}
