import Synchronization
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// The thread-safe side of an event loop: other threads post messages here and the loop's
/// eventfd wakes it. Used only off the hot path (resolver answers, shutdown).
public final class LoopRemote: Sendable {
    public enum Message: Sendable {
        /// Hand `payload` to the handler registered under `handle` (dropped if it is gone).
        case deliver(IOHandle, any Sendable)
        /// Run a closure on the loop's thread.
        case run(@Sendable (EventLoop) -> Void)
    }

    let eventFD: Int32
    private let queue = Mutex<[Message]>([])

    init() throws(SystemError) {
        // Blocking eventfd on purpose: io_uring arms a poll for it; a non-blocking one would
        // complete the pending read at once with EAGAIN.
        let fd = veil_eventfd()
        guard fd >= 0 else { throw SystemError("eventfd") }
        eventFD = fd
    }

    deinit { Socket.close(eventFD) }

    public func post(_ message: Message) {
        queue.withLock { $0.append(message) }
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    public func deliver(_ payload: any Sendable, to handle: IOHandle) {
        post(.deliver(handle, payload))
    }

    public func run(_ body: @escaping @Sendable (EventLoop) -> Void) {
        post(.run(body))
    }

    func take() -> [Message] {
        queue.withLock { q in
            let out = q
            q.removeAll(keepingCapacity: true)
            return out
        }
    }
}
