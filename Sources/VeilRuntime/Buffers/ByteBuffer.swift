/// A fixed-capacity byte buffer: bytes are written at `writePointer` and read from
/// `readPointer`. Allocated once; compacts in place so nothing is allocated per operation.
public final class ByteBuffer {
    public let capacity: Int
    public let base: UnsafeMutableRawPointer
    public private(set) var readIndex = 0
    public private(set) var writeIndex = 0
    /// While an io_uring recv writes into this buffer or a send reads from it, its bytes must not
    /// move: a pinned buffer neither compacts nor rewinds when emptied.
    public var pinned = false

    public init(capacity: Int) {
        self.capacity = capacity
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

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
