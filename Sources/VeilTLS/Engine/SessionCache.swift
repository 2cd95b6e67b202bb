internal import COpenSSL
import Synchronization
import VeilRuntime

/// Upstream TLS sessions for resumption, keyed by a caller-composed string
/// (e.g. `host:port|sni-policy`), bounded LRU, thread-safe.
///
/// - `store` takes its own reference (`SSL_SESSION_up_ref`); the caller keeps (and frees) its own.
///   Sessions that cannot be resumed (`SSL_SESSION_is_resumable` == 0) are ignored. Storing under
///   a key that already has a session replaces it (the newest ticket wins).
/// - An entry expires at insertion time + the session's lifetime: `SSL_SESSION_get_timeout`, or
///   the server's ticket lifetime hint when that is > 0 and smaller. Expired entries are dropped
///   when looked up, by `purgeExpired()`, or by LRU eviction like any other entry.
/// - `take` returns a session with a reference owned by the caller: pass it to `SSL_set_session`
///   (which takes its own reference), then `SSL_SESSION_free` it. The entry stays in the cache:
///   OpenSSL servers accept a TLS 1.3 ticket more than once unless they run stateful tickets or
///   anti-replay for early data, and a rejected ticket only costs a full handshake. A fresh
///   ticket from the new connection replaces it via `store`. Call `remove` when a resumption
///   attempt was refused, to stop offering that ticket.
public final class SessionCache: Sendable {
    public struct Stats: Sendable, Equatable {
        /// `take` calls that returned a session.
        public var hits = 0
        /// `take` calls that found nothing (or only an expired entry).
        public var misses = 0
        /// Sessions stored.
        public var stores = 0
        /// Entries dropped to stay within capacity.
        public var evictions = 0
        /// Entries dropped because they had expired.
        public var expirations = 0

        public init() {}
    }

    /// One cached session: an `SSL_SESSION*` reference owned by the cache.
    struct Entry {
        let session: SessionReference
        /// Monotonic nanoseconds after which the session is not offered.
        let expiresAt: UInt64
    }

    /// An `SSL_SESSION*` reference moved between the lock and the caller.
    struct SessionReference: @unchecked Sendable {
        let pointer: OpaquePointer
        func free() { SSL_SESSION_free(pointer) }
    }

    private struct State {
        var entries: LRUMap<Entry>
        var stats = Stats()
    }

    public let capacity: Int
    private let now: @Sendable () -> UInt64
    private let state: Mutex<State>

    /// - Parameters:
    ///   - capacity: maximum number of sessions kept (at least 1).
    ///   - now: monotonic nanoseconds (injectable for tests).
    public init(capacity: Int = 4096, now: @escaping @Sendable () -> UInt64 = { MonotonicClock.now() }) {
        self.capacity = max(1, capacity)
        self.now = now
        state = Mutex(State(entries: LRUMap(capacity: max(1, capacity))))
    }

    deinit {
        let all = state.withLock { state in
            state.entries.removeAll().map(\.session)
        }
        for reference in all { reference.free() }
    }

    /// Keeps a reference to `session` (an `SSL_SESSION*`) under `key`.
    public func store(_ session: OpaquePointer, for key: String) {
        guard SSL_SESSION_is_resumable(session) == 1 else { return }
        var lifetime = UInt64(max(0, SSL_SESSION_get_timeout(session)))
        let hint = UInt64(SSL_SESSION_get_ticket_lifetime_hint(session))
        if hint > 0 && hint < lifetime { lifetime = hint }
        guard lifetime > 0 else { return }
        guard SSL_SESSION_up_ref(session) == 1 else { return }
        let entry = Entry(session: SessionReference(pointer: session),
                          expiresAt: now() &+ lifetime &* 1_000_000_000)
        let dropped = state.withLock { state -> [SessionReference] in
            state.stats.stores += 1
            let result = state.entries.insert(entry, for: key)
            var dropped: [SessionReference] = []
            if let replaced = result.replaced { dropped.append(replaced.session) }
            if let evicted = result.evicted {
                dropped.append(evicted.session)
                state.stats.evictions += 1
            }
            return dropped
        }
        for reference in dropped { reference.free() }
    }

    /// A session stored under `key` that has not expired, with a reference the caller owns
    /// (`SSL_SESSION_free` it after `SSL_set_session`); nil if there is none.
    public func take(for key: String) -> OpaquePointer? {
        let time = now()
        let (found, expired) = state.withLock { state -> (SessionReference?, SessionReference?) in
            guard let entry = state.entries.get(key) else {
                state.stats.misses += 1
                return (nil, nil)
            }
            if entry.expiresAt <= time {
                _ = state.entries.remove(key)
                state.stats.expirations += 1
                state.stats.misses += 1
                return (nil, entry.session)
            }
            // The caller's reference, taken under the lock so eviction cannot free it first.
            guard SSL_SESSION_up_ref(entry.session.pointer) == 1 else {
                state.stats.misses += 1
                return (nil, nil)
            }
            state.stats.hits += 1
            return (entry.session, nil)
        }
        expired?.free()
        return found?.pointer
    }

    /// Forgets the session stored under `key`, if any.
    public func remove(for key: String) {
        let removed = state.withLock { state in state.entries.remove(key)?.session }
        removed?.free()
    }

    /// Drops every expired entry; returns how many.
    @discardableResult
    public func purgeExpired() -> Int {
        let time = now()
        let dropped = state.withLock { state -> [SessionReference] in
            let expired = state.entries.removeAll { $0.expiresAt <= time }
            state.stats.expirations += expired.count
            return expired.map(\.session)
        }
        for reference in dropped { reference.free() }
        return dropped.count
    }

    /// Number of sessions held (expired ones included until they are looked up or purged).
    public var count: Int { state.withLock { $0.entries.count } }

    public func stats() -> Stats { state.withLock { $0.stats } }
}

/// A bounded least-recently-used map from strings to values: O(1) lookup, insert, remove and
/// eviction (a doubly linked list threaded through an array of nodes, plus a dictionary index).
struct LRUMap<Value> {
    private struct Node {
        var key: String
        var value: Value?
        var newer: Int  // toward the most recently used end; -1 at the head
        var older: Int  // toward the least recently used end; -1 at the tail
    }

    let capacity: Int
    private var nodes: [Node] = []
    private var index: [String: Int] = [:]
    private var freeSlots: [Int] = []
    private var newest = -1
    private var oldest = -1

    init(capacity: Int) {
        precondition(capacity > 0, "LRUMap capacity must be positive")
        self.capacity = capacity
    }

    var count: Int { index.count }

    /// Keys from most to least recently used (tests and debugging).
    var keysByRecency: [String] {
        var keys: [String] = []
        var i = newest
        while i >= 0 {
            keys.append(nodes[i].key)
            i = nodes[i].older
        }
        return keys
    }

    /// The value for `key`, marking it most recently used.
    mutating func get(_ key: String) -> Value? {
        guard let i = index[key] else { return nil }
        unlink(i)
        pushNewest(i)
        return nodes[i].value
    }

    /// The value for `key` without touching its recency.
    func peek(_ key: String) -> Value? {
        index[key].flatMap { nodes[$0].value }
    }

    /// Inserts or replaces the value for `key` (most recently used). Returns the value it
    /// replaced, and the least recently used entry dropped to stay within capacity.
    mutating func insert(_ value: Value, for key: String)
        -> (replaced: Value?, evicted: Value?) {
        if let i = index[key] {
            let old = nodes[i].value
            nodes[i].value = value
            unlink(i)
            pushNewest(i)
            return (old, nil)
        }
        var evicted: Value?
        if index.count >= capacity, oldest >= 0 {
            evicted = remove(nodes[oldest].key)
        }
        let node = Node(key: key, value: value, newer: -1, older: -1)
        let i: Int
        if let slot = freeSlots.popLast() {
            nodes[slot] = node
            i = slot
        } else {
            nodes.append(node)
            i = nodes.count - 1
        }
        index[key] = i
        pushNewest(i)
        return (nil, evicted)
    }

    /// Removes and returns the value for `key`.
    @discardableResult
    mutating func remove(_ key: String) -> Value? {
        guard let i = index.removeValue(forKey: key) else { return nil }
        unlink(i)
        let value = nodes[i].value
        nodes[i].value = nil
        nodes[i].key = ""
        freeSlots.append(i)
        return value
    }

    /// Removes every entry whose value matches; returns their values.
    mutating func removeAll(where shouldRemove: (Value) -> Bool) -> [Value] {
        var keys: [String] = []
        for (key, i) in index {
            if let value = nodes[i].value, shouldRemove(value) { keys.append(key) }
        }
        return keys.compactMap { remove($0) }
    }

    /// Empties the map; returns every value.
    mutating func removeAll() -> [Value] {
        let values = index.values.compactMap { nodes[$0].value }
        nodes.removeAll()
        index.removeAll()
        freeSlots.removeAll()
        newest = -1
        oldest = -1
        return values
    }

    private mutating func unlink(_ i: Int) {
        let newer = nodes[i].newer, older = nodes[i].older
        if newer >= 0 { nodes[newer].older = older } else { newest = older }
        if older >= 0 { nodes[older].newer = newer } else { oldest = newer }
        nodes[i].newer = -1
        nodes[i].older = -1
    }

    private mutating func pushNewest(_ i: Int) {
        nodes[i].newer = -1
        nodes[i].older = newest
        if newest >= 0 { nodes[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }
}
