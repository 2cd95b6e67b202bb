import Synchronization
import Dispatch

/// Shutdown with one listener per worker: a worker whose connections have all ended keeps
/// accepting (and answering 503) on its own listener until every worker has drained, because a
/// client the kernel queues on a listener nobody accepts from waits unanswered. Each worker says
/// once that it has drained; the main thread waits for all of them and then tells every worker
/// to stop accepting (the shutdown backlog then answers what is left in the queues).
final class DrainQuorum: Sendable {
    private let remaining: Atomic<Int>
    private let done = DispatchSemaphore(value: 0)

    init(workers: Int) {
        remaining = Atomic(workers)
    }

    /// A worker has drained (called once per worker, on its ring thread; never blocks).
    func drained() {
        if remaining.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 { done.signal() }
    }

    /// Blocks the calling (control-plane) thread until every worker has drained.
    func wait() { done.wait() }
}
