import VeilRuntime

extension DNSCache {
    /// A name's HTTPS records (none: the name publishes none) and who answered.
    public struct HTTPSEntry: Sendable {
        public let records: [HTTPSRecord]
        public let source: String
        public let expires: UInt64
    }

    public func lookupHTTPS(_ name: String, now: UInt64 = MonotonicClock.now()) -> HTTPSEntry? {
        let key = DNSCache.key(name)
        return httpsEntries.withLock { e in
            guard let entry = e[key] else { return nil }
            if entry.expires <= now { e[key] = nil; return nil }
            return entry
        }
    }

    /// Stores a name's HTTPS records for their TTL clamped to [minTTL, maxTTL], or "none" for at
    /// most `negativeTTL` (not at all when that is 0); returns the TTL used (0: not stored).
    /// Failures (servers down, malformed records) are never stored.
    @discardableResult
    public func storeHTTPS(_ name: String, records: [HTTPSRecord], ttl: UInt32, source: String,
                           now: UInt64 = MonotonicClock.now()) -> UInt32 {
        let t = records.isEmpty ? min(ttl, negativeTTL) : min(max(ttl, minTTL), maxTTL)
        guard t > 0 else { return 0 }
        let key = DNSCache.key(name)
        let entry = HTTPSEntry(records: records, source: source, expires: now + UInt64(t) * 1_000_000_000)
        httpsEntries.withLock { e in
            if e.count >= capacity && e[key] == nil {
                e = e.filter { $0.value.expires > now }
                if e.count >= capacity, let soonest = e.min(by: { $0.value.expires < $1.value.expires })?.key {
                    e[soonest] = nil
                }
            }
            e[key] = entry
        }
        return t
    }

    /// A cached HTTPS answer as an outcome (`source` ends in "(cache)"), with the TTL left.
    public func cachedHTTPS(_ name: String, now: UInt64 = MonotonicClock.now()) -> HTTPSOutcome? {
        guard let e = lookupHTTPS(name, now: now) else { return nil }
        let left = UInt32(clamping: max(1, (e.expires - now) / 1_000_000_000))
        return .records(e.records, ttl: left, source: "\(e.source) (cache)")
    }
}
