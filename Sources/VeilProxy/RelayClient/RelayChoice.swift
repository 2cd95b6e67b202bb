import VeilRuntime

/// Which relay a new tunnel goes to, per worker, as a value: new tunnels go round the relays
/// that are up; a relay that could not be reached (connect, TLS, no answer) is down for a
/// backoff (0.25 s, doubling to 30 s, each wait drawn from 50-100 % of it, so that workers do not
/// come back in step) and skipped meanwhile; a tunnel whose relay failed goes to one it has not
/// tried yet. When every relay is down, the one back soonest is tried anyway (better than
/// refusing at once). No sockets; `RelayTunnel` reports, the worker owns it.
struct RelayChoice {
    struct Health: Equatable {
        /// Down until this instant (MonotonicClock nanoseconds; 0 or past: up).
        var downUntil: UInt64 = 0
        /// The last backoff in seconds (0: no failure since the last success).
        var backoff: Double = 0
        var lastError: String?
    }

    static let backoffFirst = 0.25
    static let backoffMost = 30.0

    private(set) var health: [Health]
    private var next = 0

    init(count: Int) {
        health = Array(repeating: Health(), count: max(count, 0))
    }

    /// The relay for a tunnel that has tried `tried` (bit i: relay i), or nil when it has tried
    /// them all. Up relays in turn; else the untried one back soonest.
    mutating func pick(now: UInt64, tried: UInt64 = 0) -> Int? {
        let n = health.count
        guard n > 0 else { return nil }
        for step in 0..<n {
            let i = (next + step) % n
            if tried & Self.bit(i) == 0 && health[i].downUntil <= now {
                next = (i + 1) % n
                return i
            }
        }
        var best: Int?
        for i in 0..<n where tried & Self.bit(i) == 0 {
            if best.map({ health[i].downUntil < health[$0].downUntil }) ?? true { best = i }
        }
        return best
    }

    /// Relay `i` could not be reached: down for the next backoff.
    mutating func failed(_ i: Int, reason: String, now: UInt64, jitter: Double = Double.random(in: 0.5...1.0)) {
        guard health.indices.contains(i) else { return }
        let b = health[i].backoff == 0 ? Self.backoffFirst : min(health[i].backoff * 2, Self.backoffMost)
        health[i] = Health(downUntil: now &+ (b * jitter).nanoseconds, backoff: b, lastError: reason)
    }

    /// Relay `i` carried a tunnel: up, its backoff forgotten.
    mutating func succeeded(_ i: Int) {
        guard health.indices.contains(i) else { return }
        health[i] = Health()
    }

    static func bit(_ i: Int) -> UInt64 { i < 64 ? 1 << UInt64(i) : 0 }
}
