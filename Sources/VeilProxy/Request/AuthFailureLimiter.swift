import VeilResolver
import VeilWire
import Synchronization

/// Counts wrong relay secrets per client address: after `limit` failures within `window`
/// seconds that address is refused outright (429) for `block` seconds. Shared by all workers;
/// the table is bounded (`maxClients`), forgetting the oldest entries first.
public final class AuthFailureLimiter: Sendable {
    struct Entry {
        var failures: [Double] = []
        var blockedUntil: Double = 0
    }

    public let limit: Int
    public let window: Double
    public let block: Double
    let maxClients: Int
    private let table = Mutex<[String: Entry]>([:])

    public init(limit: Int = 5, window: Double = 60, block: Double = 60, maxClients: Int = 10_000) {
        self.limit = max(1, limit)
        self.window = window
        self.block = block
        self.maxClients = max(1, maxClients)
    }

    /// Seconds `client` is still refused for at time `now` (0: not refused).
    public func blockedFor(_ client: String, now: Double) -> Double {
        table.withLock { t in
            guard let e = t[client], e.blockedUntil > now else { return 0 }
            return e.blockedUntil - now
        }
    }

    /// Records a failure; returns true when this failure starts a block.
    @discardableResult
    public func recordFailure(_ client: String, now: Double) -> Bool {
        table.withLock { t in
            if t[client] == nil && t.count >= maxClients { prune(&t, now: now) }
            var e = t[client] ?? Entry()
            e.failures = e.failures.filter { now - $0 < window }
            e.failures.append(now)
            var started = false
            if e.failures.count >= limit && e.blockedUntil <= now {
                e.blockedUntil = now + block
                e.failures.removeAll()
                started = true
            }
            t[client] = e
            return started
        }
    }

    /// Drops entries that neither block nor count a recent failure; if still full, the ones with
    /// the oldest activity.
    private func prune(_ t: inout [String: Entry], now: Double) {
        t = t.filter { $0.value.blockedUntil > now || $0.value.failures.contains { now - $0 < window } }
        if t.count >= maxClients {
            let keep = t.sorted { max($0.value.blockedUntil, $0.value.failures.last ?? 0) > max($1.value.blockedUntil, $1.value.failures.last ?? 0) }
                .prefix(maxClients / 2)
            t = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
        }
    }

    public var trackedClients: Int { table.withLock { $0.count } }
}
