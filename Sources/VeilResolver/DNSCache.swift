import VeilWire
import Synchronization
import VeilRuntime

/// Answers by name, kept for their TTL clamped to [minTTL, maxTTL]; "no such name" and "no
/// addresses" are kept too (negative caching, at most `negativeTTL`). Bounded: when full, the
/// entry closest to expiry goes. Shared by all workers (a lookup is one short lock). HTTPS
/// records (RFC 9460) are kept beside the addresses, by the same rules (`DNSCache+HTTPS`).
public final class DNSCache: Sendable {
    public struct Entry: Sendable {
        /// Empty for a negative entry.
        public let addresses: [String]
        /// Negative entries: why there is no address.
        public let failure: String?
        public let source: String
        public let expires: UInt64
    }

    public let minTTL: UInt32
    public let maxTTL: UInt32
    public let negativeTTL: UInt32
    let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])
    let httpsEntries = Mutex<[String: HTTPSEntry]>([:])

    public init(minTTL: UInt32 = 60, maxTTL: UInt32 = 3600, negativeTTL: UInt32 = 60, capacity: Int = 10_000) {
        self.minTTL = minTTL
        self.maxTTL = max(minTTL, maxTTL)
        self.negativeTTL = negativeTTL
        self.capacity = capacity
    }

    public func lookup(_ name: String, now: UInt64 = MonotonicClock.now()) -> Entry? {
        let key = name.lowercased().trimmingTrailingDot
        return entries.withLock { e in
            guard let entry = e[key] else { return nil }
            if entry.expires <= now { e[key] = nil; return nil }
            return entry
        }
    }

    /// Stores a positive answer; returns the TTL used.
    @discardableResult
    public func store(_ name: String, addresses: [String], ttl: UInt32, source: String,
                      now: UInt64 = MonotonicClock.now()) -> UInt32 {
        let t = min(max(ttl, minTTL), maxTTL)
        put(name, Entry(addresses: addresses, failure: nil, source: source, expires: now + UInt64(t) * 1_000_000_000), now: now)
        return t
    }

    /// Stores a negative answer for at most `negativeTTL` (less when the zone says so).
    public func storeNegative(_ name: String, failure: String, ttl: UInt32?, source: String,
                              now: UInt64 = MonotonicClock.now()) {
        let t = min(ttl ?? negativeTTL, negativeTTL)
        guard t > 0 else { return }
        put(name, Entry(addresses: [], failure: failure, source: source, expires: now + UInt64(t) * 1_000_000_000), now: now)
    }

    func put(_ name: String, _ entry: Entry, now: UInt64) {
        let key = DNSCache.key(name)
        entries.withLock { e in
            if e.count >= capacity && e[key] == nil {
                e = e.filter { $0.value.expires > now }
                if e.count >= capacity, let soonest = e.min(by: { $0.value.expires < $1.value.expires })?.key {
                    e[soonest] = nil
                }
            }
            e[key] = entry
        }
    }

    static func key(_ name: String) -> String { name.lowercased().trimmingTrailingDot }

    public var count: Int { entries.withLock { $0.count } }
}
