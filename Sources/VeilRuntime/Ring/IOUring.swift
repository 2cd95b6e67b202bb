internal import CLibURing
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// One io_uring instance, owned by the thread that created it.
///
/// Submission entries are obtained with `nextSQE()`; if the submission queue is full, the pending
/// entries are submitted first. Completions are read in batches with `drain(_:)`.
final class IOUring {
    let ring: UnsafeMutablePointer<io_uring>
    private let cqeBatch: UnsafeMutablePointer<UnsafeMutablePointer<io_uring_cqe>?>
    private let batchSize: UInt32 = 256
    let setupFlags: UInt32

    init(entries: UInt32 = 4096) throws(SystemError) {
        ring = .allocate(capacity: 1)
        ring.initialize(to: io_uring())
        cqeBatch = .allocate(capacity: 256)
        // Prefer the 6.1+ flags that keep completion work on this thread; fall back gracefully.
        let candidates: [UInt32] = [
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_COOP_TASKRUN,
            0,
        ]
        var lastError: Int32 = 0
        var chosen: UInt32? = nil
        for flags in candidates {
            var params = io_uring_params()
            params.flags = flags
            let rc = io_uring_queue_init_params(entries, ring, &params)
            if rc == 0 { chosen = flags; break }
            lastError = -rc
        }
        guard let chosen else {
            ring.deallocate()
            cqeBatch.deallocate()
            throw SystemError("io_uring_queue_init", code: lastError)
        }
        setupFlags = chosen
    }

    deinit {
        io_uring_queue_exit(ring)
        ring.deallocate()
        cqeBatch.deallocate()
    }

    /// A zeroed submission entry. Never nil: submits first when the queue is full.
    @inline(__always)
    func nextSQE() -> UnsafeMutablePointer<io_uring_sqe> {
        if let sqe = io_uring_get_sqe(ring) { return sqe }
        _ = io_uring_submit(ring)
        while true {
            if let sqe = io_uring_get_sqe(ring) { return sqe }
            _ = io_uring_submit(ring)
        }
    }

    /// Submits what is queued if fewer than `count` entries are free.
    @inline(__always)
    func reserve(_ count: UInt32) {
        if io_uring_sq_space_left(ring) < count { _ = io_uring_submit(ring) }
    }

    /// Submits pending entries and waits for at least one completion or the timeout.
    func submitAndWait(timeoutNanos: UInt64) {
        var ts = __kernel_timespec(tv_sec: Int64(timeoutNanos / 1_000_000_000),
                                   tv_nsec: Int64(timeoutNanos % 1_000_000_000))
        var cqe: UnsafeMutablePointer<io_uring_cqe>? = nil
        _ = io_uring_submit_and_wait_timeout(ring, &cqe, 1, &ts, nil)
    }

    /// Submits pending entries without waiting.
    func submit() {
        _ = io_uring_submit(ring)
    }

    /// Calls `body(userData, result, flags)` for every ready completion, then marks them seen.
    /// Returns how many were handled.
    @discardableResult
    @inline(__always)
    func drain(_ body: (UInt64, Int32, UInt32) -> Void) -> Int {
        var total = 0
        while true {
            let n = veil_uring_peek_batch(ring, cqeBatch, batchSize)
            if n == 0 { break }
            for i in 0..<Int(n) {
                guard let cqe = cqeBatch[i] else { continue }
                body(cqe.pointee.user_data, cqe.pointee.res, cqe.pointee.flags)
            }
            io_uring_cq_advance(ring, n)
            total += Int(n)
        }
        return total
    }
}
