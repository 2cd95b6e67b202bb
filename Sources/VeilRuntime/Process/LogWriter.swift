#if canImport(Glibc)
import Glibc
#endif

/// Per-loop, ring-driven log output: lines are appended to a buffer and written by one io_uring
/// write at a time, so logging never blocks the loop. The buffer is bounded; lines that do not
/// fit are counted and the count is reported once the writer catches up.
///
/// A write to a regular file runs in an io-wq worker (ext4 has no non-blocking buffered
/// write): a thread hop per write. So lines are gathered for up to `batchNanos` (or until
/// `batchBytes` are waiting) and written together: one hop for many connections' summary
/// lines instead of one each. Only under load: a line that comes after `batchNanos` without a
/// write is written at once (a quiet proxy's lines appear as they happen). A line reaches the
/// file at most `batchNanos` later than it would have; nothing else changes (bytes, order, the
/// final blocking flush).
public final class LogWriter {
    public let fd: Int32
    let index: Int
    private var pending: [UInt8] = []
    private var writing: [UInt8] = []
    private var written = 0
    private(set) var inFlight = false
    private var dropped = 0
    private let maxPending: Int
    /// When the oldest line not yet handed to a write was queued (0: none waiting).
    private var pendingSince: UInt64 = 0
    /// When the last write started (0: never).
    private var lastFlush: UInt64 = 0
    /// How long a line may wait for others to share its write.
    static let batchNanos: UInt64 = 20_000_000
    /// Bytes waiting that start a write at once.
    static let batchBytes = 16 << 10
    /// How the notice of dropped lines is written (nil: not at all, e.g. in a key log).
    let notices: LogFormat?

    init(fd: Int32, index: Int, notices: LogFormat?, maxPending: Int = 4 << 20) {
        LogWriter.appendIfRegularFile(fd)
        self.fd = fd
        self.index = index
        self.notices = notices
        self.maxPending = maxPending
        pending.reserveCapacity(64 << 10)
        writing.reserveCapacity(64 << 10)
    }

    /// Queues one complete line (it should end with a newline).
    public func append(_ line: String) {
        if pending.count + line.utf8.count > maxPending {
            dropped += 1
            return
        }
        if pending.isEmpty { pendingSince = MonotonicClock.now() }
        pending.append(contentsOf: line.utf8)
    }

    var hasPending: Bool { !pending.isEmpty || dropped > 0 }

    /// When the queued lines are to be written (nil: nothing queued, or a write is in flight,
    /// whose completion flushes again).
    var due: UInt64? {
        guard !inFlight, hasPending else { return nil }
        if pending.count >= LogWriter.batchBytes || dropped > 0 { return 0 }
        // The first line after a quiet spell goes at once; the ones that follow it gather.
        if lastFlush == 0 || pendingSince &- lastFlush >= LogWriter.batchNanos { return 0 }
        return pendingSince &+ LogWriter.batchNanos
    }

    /// Starts a write of everything queued once it is due (`now` past `due`), if none is in flight.
    func flushIfDue(on loop: EventLoop, now: UInt64) {
        guard let due, now >= due else { return }
        flush(on: loop)
    }

    /// Starts a write of everything queued, if none is in flight.
    func flush(on loop: EventLoop) {
        guard !inFlight, hasPending else { return }
        pendingSince = 0
        lastFlush = MonotonicClock.now()
        if dropped > 0 {
            if let notices { pending.append(contentsOf: droppedNotice(notices).utf8) }
            dropped = 0
        }
        swap(&pending, &writing)
        pending.removeAll(keepingCapacity: true)
        written = 0
        submit(on: loop)
    }

    private func submit(on loop: EventLoop) {
        inFlight = true
        writing.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { inFlight = false; return }
            loop.submitLogWrite(writer: index, fd: fd, bytes: base + written, count: raw.count - written)
        }
    }

    func completed(result: Int32, on loop: EventLoop) {
        inFlight = false
        if result > 0 {
            written += Int(result)
            if written < writing.count {
                submit(on: loop)
                return
            }
        }
        // On error the batch is lost; there is nowhere better to report it.
        writing.removeAll(keepingCapacity: true)
        written = 0
        flushIfDue(on: loop, now: MonotonicClock.now())
    }

    /// Writes everything synchronously (used when the loop stops).
    func flushBlocking() {
        var rest = writing.count > written ? Array(writing[written...]) : []
        rest.append(contentsOf: pending)
        if dropped > 0, let notices { rest.append(contentsOf: droppedNotice(notices).utf8) }
        pending.removeAll()
        writing.removeAll()
        dropped = 0
        rest.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                guard let base = raw.baseAddress else { break }
                let n = write(fd, base + off, raw.count - off)
                if n <= 0 { if errno == EINTR { continue } else { break } }
                off += n
            }
        }
    }

    /// Every worker has a writer on the same descriptors (stderr, the record log). A ring's
    /// write at "the current file position" is not serialised with another ring's (io_uring
    /// takes no file-position lock), so two workers writing to a regular file opened without
    /// O_APPEND (`veil run 2>log`) can overwrite each other's lines. O_APPEND makes each write
    /// an atomic append; files Veil opens itself have it already.
    static func appendIfRegularFile(_ fd: Int32) {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 && flags & O_APPEND == 0 { _ = fcntl(fd, F_SETFL, flags | O_APPEND) }
    }

    private func droppedNotice(_ format: LogFormat) -> String {
        ProcessLog.line("veil: warning: \(dropped) log lines dropped (output too slow)", format: format)
    }
}
