/// Fixed-size raw buffers reused on one loop, so connections do not allocate per operation.
/// Keeps at most `maxCached` free buffers; the rest go back to the allocator.
public final class BufferPool {
    public let bufferSize: Int
    private var free: [UnsafeMutableRawPointer] = []
    private let maxCached: Int
    public private(set) var outstanding = 0

    public init(bufferSize: Int, maxCached: Int = 256) {
        self.bufferSize = bufferSize
        self.maxCached = maxCached
        free.reserveCapacity(maxCached)
    }

    deinit { for b in free { b.deallocate() } }

    public func take() -> UnsafeMutableRawPointer {
        outstanding += 1
        if let b = free.popLast() { return b }
        return .allocate(byteCount: bufferSize, alignment: 16)
    }

    /// Free buffers cached now.
    public var cached: Int { free.count }

    /// After a burst: frees the cached buffers beyond `keeping` (their memory goes back to the
    /// allocator, and to the kernel with the next heap trim).
    public func shrink(keeping: Int) {
        while free.count > max(keeping, 0), let b = free.popLast() { b.deallocate() }
    }

    public func give(_ buffer: UnsafeMutableRawPointer) {
        outstanding -= 1
        if free.count < maxCached { free.append(buffer) } else { buffer.deallocate() }
    }
}
