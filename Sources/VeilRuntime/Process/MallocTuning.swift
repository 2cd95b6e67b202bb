internal import CRuntimeShims

/// Process-wide malloc setting, applied before any worker starts.
///
/// Every intercepted connection allocates large TLS buffers (64 and 128 KiB per engine, two
/// engines). glibc starts by giving such blocks their own mapping, but its dynamic mmap
/// threshold rises after the first one is freed, and from then on they come from the heap
/// arenas, where blocks freed in another order than they were taken (two workers, connections
/// of different lengths) leave holes: RSS crept up by tens of bytes per connection, without end
/// (bench/soak-short.sh: +15% over 60,000 handshakes after a 10,000 warm-up). A fixed threshold
/// keeps every block of 64 KiB and more in its own mapping, returned to the kernel when freed.
public enum MallocTuning {
    public static func apply() {
        _ = veil_fix_mmap_threshold(64 << 10)
    }

    /// Gives the free pages of every arena back to the kernel (`malloc_trim(0)`). What a burst of
    /// connections freed below the mmap threshold (OpenSSL's objects and record buffers, Veil's
    /// record buffers) otherwise stays in the arenas' RSS. It takes each arena's lock and walks
    /// its free chunks: call it when a burst is over, not per connection.
    public static func releaseFreeMemory() {
        _ = veil_malloc_trim()
    }
}
