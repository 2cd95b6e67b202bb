/// When a worker gives the heap a burst of connections freed back to the kernel.
///
/// glibc keeps freed blocks below the mmap threshold in the worker's arena: after 1,000
/// concurrent intercepted downloads ended, RSS stayed at 2.4 times its start value, and
/// `malloc_trim` brought it back to 1.3 times. The trim walks every arena under its lock, so it
/// runs once a burst is over: when at least `burst` connections have ended since the last trim
/// and none has ended for `quiet` nanoseconds. Events in (a connection ended, the worker's
/// deadline), decisions out (when to look again, whether to trim now); the worker performs them.
struct HeapTrim: Equatable {
    static let burst = 64
    static let quiet: UInt64 = 2_000_000_000

    private(set) var endedSinceTrim = 0
    private(set) var lastEnd: UInt64 = 0

    /// When the worker should look again (its deadline), or nil when no trim is pending.
    var nextCheck: UInt64? { endedSinceTrim >= HeapTrim.burst ? lastEnd + HeapTrim.quiet : nil }

    mutating func connectionEnded(now: UInt64) {
        endedSinceTrim += 1
        lastEnd = now
    }

    /// True when the trim is due now; the count starts again.
    mutating func due(now: UInt64) -> Bool {
        guard let at = nextCheck, now >= at else { return false }
        endedSinceTrim = 0
        return true
    }
}
