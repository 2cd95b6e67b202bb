#if canImport(Glibc)
import Glibc
#endif

/// Scratch memory whose contents do not outlive one use (a pool buffer SSL_read fills and the
/// same event empties): while its owner is idle, the whole pages inside it go back to the kernel
/// (madvise MADV_DONTNEED; they read as zeros when next touched). The buffer stays allocated and
/// at the same address; the partial pages at its ends, which it may share with its allocator's
/// neighbours, are left alone.
public enum ScratchPages {
    static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)

    /// Returns how many bytes were given back.
    @discardableResult
    public static func release(_ buffer: UnsafeMutableRawPointer, count: Int) -> Int {
        let start = (Int(bitPattern: buffer) + pageSize - 1) / pageSize * pageSize
        let end = (Int(bitPattern: buffer) + count) / pageSize * pageSize
        guard end > start, let p = UnsafeMutableRawPointer(bitPattern: start) else { return 0 }
        return madvise(p, end - start, MADV_DONTNEED) == 0 ? end - start : 0
    }
}
