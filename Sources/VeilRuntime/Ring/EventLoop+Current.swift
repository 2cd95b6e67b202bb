#if canImport(Glibc)
import Glibc
#endif

/// Which loop's thread is running: work handed to a background queue can be sent back to the
/// loop that asked for it (the resolver's relay lookups go on that worker's relay connection).
extension EventLoop {
    /// The index of the loop whose thread this is; nil on any other thread.
    public static var currentIndex: Int? {
        guard let p = pthread_getspecific(currentLoopKey) else { return nil }
        return Int(bitPattern: p) - 1
    }

    /// Marks the calling thread as this loop's (`run()` does it).
    func markCurrentThread() {
        _ = pthread_setspecific(currentLoopKey, UnsafeRawPointer(bitPattern: index + 1))
    }
}

/// A thread-specific slot holding the running loop's index + 1 (0, the unset value, is nil).
private let currentLoopKey: pthread_key_t = {
    var key = pthread_key_t()
    _ = pthread_key_create(&key, nil)
    return key
}()
