#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Synchronization
import Testing
@testable import VeilTLS

/// Counts how many of the SSL_SESSIONs it tracks OpenSSL has actually freed (via ex_data with a
/// free callback), so the tests can see the cache's reference counting.
final class SessionTracker: Sendable {
    let created = Atomic<Int>(0)
    let freed = Atomic<Int>(0)

    var live: Int { created.load(ordering: .relaxed) - freed.load(ordering: .relaxed) }

    /// A new resumable session (one reference, owned by the caller) with `timeout` seconds.
    func makeSession(timeout: Int = 300) -> OpaquePointer {
        let session = SSL_SESSION_new()!
        var id = [UInt8](repeating: 0, count: 16)
        _ = RAND_bytes(&id, 16)
        SSL_SESSION_set1_id(session, id, 16)
        SSL_SESSION_set_timeout(session, timeout)
        SSL_SESSION_set_ex_data(session, trackedSessionIndex, Unmanaged.passRetained(self).toOpaque())
        created.add(1, ordering: .relaxed)
        return session
    }
}

/// ex_data index whose free callback reports to the session's tracker.
let trackedSessionIndex: Int32 = CRYPTO_get_ex_new_index(
    CRYPTO_EX_INDEX_SSL_SESSION, 0, nil, nil, nil,
    { _, pointer, _, _, _, _ in
        guard let pointer else { return }
        Unmanaged<SessionTracker>.fromOpaque(pointer).takeRetainedValue().freed.add(1, ordering: .relaxed)
    })

/// A settable monotonic clock (nanoseconds).
final class TestClock: Sendable {
    let nanos = Atomic<UInt64>(1_000_000_000)
    func advance(seconds: UInt64) { nanos.add(seconds * 1_000_000_000, ordering: .relaxed) }
    var now: @Sendable () -> UInt64 { { [self] in nanos.load(ordering: .relaxed) } }
}

@Suite("SessionCache")
struct SessionCacheTests {
    @Test func storeAndTake() {
        let tracker = SessionTracker()
        do {
            let cache = SessionCache(capacity: 8, now: TestClock().now)
            let session = tracker.makeSession()
            cache.store(session, for: "example.com:443|sni")
            SSL_SESSION_free(session)  // the cache holds its own reference
            #expect(tracker.live == 1)
            #expect(cache.count == 1)

            let taken = cache.take(for: "example.com:443|sni")
            #expect(taken == session)
            if let taken { SSL_SESSION_free(taken) }
            // Kept for reuse.
            let again = cache.take(for: "example.com:443|sni")
            #expect(again == session)
            if let again { SSL_SESSION_free(again) }
            #expect(cache.take(for: "example.com:443|no-sni") == nil)

            let stats = cache.stats()
            #expect(stats.stores == 1)
            #expect(stats.hits == 2)
            #expect(stats.misses == 1)
            #expect(tracker.live == 1)
        }
        // deinit released the last reference.
        #expect(tracker.live == 0)
    }

    @Test func entriesExpireWithTheSessionTimeout() {
        let tracker = SessionTracker()
        let clock = TestClock()
        let cache = SessionCache(capacity: 8, now: clock.now)
        let session = tracker.makeSession(timeout: 10)
        cache.store(session, for: "k")
        SSL_SESSION_free(session)

        clock.advance(seconds: 9)
        let taken = cache.take(for: "k")
        #expect(taken != nil)
        if let taken { SSL_SESSION_free(taken) }

        clock.advance(seconds: 2)
        #expect(cache.take(for: "k") == nil)
        #expect(cache.count == 0)
        #expect(tracker.live == 0)
        let stats = cache.stats()
        #expect(stats.expirations == 1)
        #expect(stats.hits == 1)
        #expect(stats.misses == 1)
    }

    @Test func purgeDropsOnlyExpiredEntries() {
        let tracker = SessionTracker()
        let clock = TestClock()
        let cache = SessionCache(capacity: 8, now: clock.now)
        for (key, timeout) in [("short", 5), ("long", 100), ("short2", 5)] {
            let s = tracker.makeSession(timeout: timeout)
            cache.store(s, for: key)
            SSL_SESSION_free(s)
        }
        clock.advance(seconds: 6)
        #expect(cache.purgeExpired() == 2)
        #expect(cache.count == 1)
        #expect(tracker.live == 1)
    }

    @Test func leastRecentlyUsedSessionIsEvictedAndFreed() {
        let tracker = SessionTracker()
        let cache = SessionCache(capacity: 2, now: TestClock().now)
        let a = tracker.makeSession(), b = tracker.makeSession(), c = tracker.makeSession()
        cache.store(a, for: "a")
        cache.store(b, for: "b")
        // Touch a, so b is the least recently used.
        if let t = cache.take(for: "a") { SSL_SESSION_free(t) }
        SSL_SESSION_free(a)
        SSL_SESSION_free(b)
        #expect(tracker.live == 3)  // a, b held by the cache; c by us

        cache.store(c, for: "c")
        SSL_SESSION_free(c)
        #expect(cache.count == 2)
        #expect(tracker.live == 2)  // b was freed
        #expect(cache.take(for: "b") == nil)
        #expect(cache.stats().evictions == 1)
        for key in ["a", "c"] {
            let t = cache.take(for: key)
            #expect(t != nil)
            if let t { SSL_SESSION_free(t) }
        }
    }

    @Test func takenSessionOutlivesItsEviction() {
        let tracker = SessionTracker()
        let cache = SessionCache(capacity: 1, now: TestClock().now)
        let a = tracker.makeSession()
        cache.store(a, for: "a")
        SSL_SESSION_free(a)
        let taken = cache.take(for: "a")!
        let b = tracker.makeSession()
        cache.store(b, for: "b")  // evicts a while the caller still holds it
        SSL_SESSION_free(b)
        #expect(tracker.live == 2)
        #expect(SSL_SESSION_get_timeout(taken) == 300)  // still valid
        SSL_SESSION_free(taken)
        #expect(tracker.live == 1)
    }

    @Test func replacingAndRemovingFreeTheOldSession() {
        let tracker = SessionTracker()
        let cache = SessionCache(capacity: 4, now: TestClock().now)
        let first = tracker.makeSession(), second = tracker.makeSession()
        cache.store(first, for: "k")
        SSL_SESSION_free(first)
        cache.store(second, for: "k")
        SSL_SESSION_free(second)
        #expect(cache.count == 1)
        #expect(tracker.live == 1)
        let taken = cache.take(for: "k")
        #expect(taken == second)
        if let taken { SSL_SESSION_free(taken) }

        cache.remove(for: "k")
        cache.remove(for: "absent")
        #expect(cache.count == 0)
        #expect(tracker.live == 0)
    }

    @Test func unresumableSessionsAreNotStored() {
        let tracker = SessionTracker()
        let cache = SessionCache(now: TestClock().now)
        let bare = SSL_SESSION_new()!  // no session id, no ticket
        cache.store(bare, for: "k")
        SSL_SESSION_free(bare)
        let zero = tracker.makeSession(timeout: 0)
        cache.store(zero, for: "z")
        SSL_SESSION_free(zero)
        #expect(cache.count == 0)
        #expect(cache.stats().stores == 0)
        #expect(tracker.live == 0)
    }

    @Test func deinitFreesEverySession() {
        let tracker = SessionTracker()
        do {
            let cache = SessionCache(capacity: 100, now: TestClock().now)
            for i in 0..<50 {
                let s = tracker.makeSession()
                cache.store(s, for: "key\(i)")
                SSL_SESSION_free(s)
            }
            #expect(tracker.live == 50)
        }
        #expect(tracker.live == 0)
    }

    /// LRUMap against a naive model (an array ordered by recency) under random operations.
    @Test func lruMapMatchesAModel() {
        var rng = SplitMix64(seed: 7)
        var map = LRUMap<Int>(capacity: 5)
        var model: [(String, Int)] = []  // most recent first
        for step in 0..<5_000 {
            let key = "k\(Int.random(in: 0..<9, using: &rng))"
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:
                let got = map.get(key)
                if let i = model.firstIndex(where: { $0.0 == key }) {
                    let entry = model.remove(at: i)
                    model.insert(entry, at: 0)
                    #expect(got == entry.1)
                } else {
                    #expect(got == nil)
                }
            case 1:
                let result = map.insert(step, for: key)
                if let i = model.firstIndex(where: { $0.0 == key }) {
                    #expect(result.replaced == model[i].1)
                    #expect(result.evicted == nil)
                    model.remove(at: i)
                } else if model.count == 5 {
                    #expect(result.evicted == model.last!.1)
                    model.removeLast()
                } else {
                    #expect(result.evicted == nil && result.replaced == nil)
                }
                model.insert((key, step), at: 0)
            default:
                let removed = map.remove(key)
                if let i = model.firstIndex(where: { $0.0 == key }) {
                    #expect(removed == model.remove(at: i).1)
                } else {
                    #expect(removed == nil)
                }
            }
            #expect(map.keysByRecency == model.map(\.0))
            #expect(map.count == model.count)
        }
    }
}
