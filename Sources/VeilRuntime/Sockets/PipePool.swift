/// Empty pipes kept by one event loop for its splice relays, so that a new connection does not
/// pay pipe2(2), F_GETPIPE_SZ and four close(2) for its two pipes. A pipe comes back only when
/// it is indistinguishable from a fresh one: empty (FIONREAD says 0 bytes) and still of the
/// size the kernel gave it (never grown). Anything else is closed. At most `limit` pipes are
/// kept (each counts against the user's pipe pages, fs.pipe-user-pages-soft, even while
/// empty). Used on the loop's thread only; the pipes are closed by `releaseAll` or when the
/// pool goes away.
public final class PipePool {
    public let limit: Int
    private var free: [Pipe] = []

    public init(limit: Int) {
        self.limit = max(limit, 0)
        free.reserveCapacity(self.limit)
    }

    deinit { releaseAll() }

    /// Pipes waiting for reuse.
    public var count: Int { free.count }

    /// A pooled pipe (empty, of its first size) or, when there is none, a new one.
    public func take() throws(SystemError) -> Pipe {
        if let p = free.popLast() { return p }
        return try Pipe()
    }

    /// Takes `pipe` back for reuse when it is empty, was never grown and the pool has room;
    /// otherwise closes it. The caller must not use `pipe` afterwards.
    public func give(_ pipe: Pipe) {
        var p = pipe
        guard free.count < limit, p.readFD >= 0, p.capacity == p.initialCapacity, p.queuedBytes == 0 else {
            p.close()
            return
        }
        free.append(p)
    }

    /// Closes pooled pipes until at most `keeping` are left (after a burst).
    public func shrink(keeping: Int) {
        while free.count > max(keeping, 0), var p = free.popLast() { p.close() }
    }

    /// Closes every pooled pipe (the loop is stopping).
    public func releaseAll() { shrink(keeping: 0) }
}
