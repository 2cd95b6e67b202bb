internal import CRuntimeShims
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// N worker threads, each running one `EventLoop` on its own io_uring.
///
/// `setup` runs on each new thread with its loop before the loop starts; the layer above uses it
/// to attach its per-thread state (`EventLoop.context`) and post its first operations.
public final class WorkerGroup: Sendable {
    public let remotes: [LoopRemote]
    private let threads: [UInt]   // pthread_t values

    private final class Start: @unchecked Sendable {
        let index: Int
        let setup: @Sendable (EventLoop) -> Void
        let ready: DispatchSemaphore
        let result: Mutex<Result<LoopRemote, SystemError>?>
        init(index: Int, setup: @escaping @Sendable (EventLoop) -> Void, ready: DispatchSemaphore) {
            self.index = index
            self.setup = setup
            self.ready = ready
            self.result = Mutex(nil)
        }
    }

    public init(count: Int, setup: @escaping @Sendable (EventLoop) -> Void) throws(SystemError) {
        var remotes: [LoopRemote] = []
        var threads: [UInt] = []
        for index in 0..<count {
            let start = Start(index: index, setup: setup, ready: DispatchSemaphore(value: 0))
            var tid = pthread_t()
            let box = Unmanaged.passRetained(start).toOpaque()
            let rc = pthread_create(&tid, nil, { arg in
                guard let arg else { return nil }
                let start = Unmanaged<Start>.fromOpaque(arg).takeRetainedValue()
                let loop: EventLoop
                do throws(SystemError) {
                    loop = try EventLoop(index: start.index)
                } catch {
                    start.result.withLock { $0 = .failure(error) }
                    start.ready.signal()
                    return nil
                }
                start.setup(loop)
                start.result.withLock { $0 = .success(loop.remote) }
                start.ready.signal()
                loop.run()
                return nil
            }, box)
            guard rc == 0 else {
                Unmanaged<Start>.fromOpaque(box).release()
                throw SystemError("pthread_create", code: rc)
            }
            start.ready.wait()
            switch start.result.withLock({ $0 }) {
            case .success(let remote)?: remotes.append(remote)
            case .failure(let error)?:
                pthread_join(tid, nil)
                throw error
            case nil: throw SystemError("worker start", code: EINVAL)
            }
            threads.append(UInt(tid))
        }
        self.remotes = remotes
        self.threads = threads
    }

    /// Runs `body` on every loop's thread.
    public func broadcast(_ body: @escaping @Sendable (EventLoop) -> Void) {
        for r in remotes { r.run(body) }
    }

    /// Waits for every loop to return from `run()`.
    public func join() {
        for t in threads { pthread_join(pthread_t(t), nil) }
    }

    /// Blocks SIGINT/SIGTERM/SIGHUP/SIGPIPE in this thread and every thread started after it.
    public static func blockSignals() { veil_block_signals() }

    /// Waits (blocking) for SIGINT or SIGTERM; each SIGHUP meanwhile runs `hangUp` and the wait
    /// goes on. Returns the terminating signal's number. Call after `blockSignals()`.
    public static func waitForTerminationSignal(hangUp: @Sendable () -> Void = {}) -> Int32 {
        while true {
            let sig = veil_wait_signal()
            guard sig == SIGHUP else { return sig }
            hangUp()
        }
    }
}
