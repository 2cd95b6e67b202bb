import VeilRuntime

extension DNSCache {
    /// A name's HTTPS records (none: the name publishes none) and who answered; or why the
    /// resolver cannot say (`failure`: a relay that cannot ask, kept as long as "none").
    public struct HTTPSEntry: Sendable {
        public let records: [HTTPSRecord]
        public let failure: String?
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
    /// Failures are stored only through `storeHTTPSFailure`.
    @discardableResult
    public func storeHTTPS(_ name: String, records: [HTTPSRecord], ttl: UInt32, source: String,
                           now: UInt64 = MonotonicClock.now()) -> UInt32 {
        let t = records.isEmpty ? min(ttl, negativeTTL) : min(max(ttl, minTTL), maxTTL)
        guard t > 0 else { return 0 }
        putHTTPS(name, HTTPSEntry(records: records, failure: nil, source: source, expires: now + UInt64(t) * 1_000_000_000), now: now)
        return t
    }

    /// Stores why HTTPS records cannot be had (the relay's resolver cannot ask, or the relay is
    /// older), for `negativeTTL`, so that an address lookup through the relay, which asks for
    /// both, answers the HTTPS lookup that follows.
    public func storeHTTPSFailure(_ name: String, failure: String, source: String, now: UInt64 = MonotonicClock.now()) {
        guard negativeTTL > 0 else { return }
        putHTTPS(name, HTTPSEntry(records: [], failure: failure, source: source,
                                  expires: now + UInt64(negativeTTL) * 1_000_000_000), now: now)
    }

    private func putHTTPS(_ name: String, _ entry: HTTPSEntry, now: UInt64) {
        let key = DNSCache.key(name)
        httpsEntries.withLock { e in
            if e.count >= capacity && e[key] == nil {
                e = e.filter { $0.value.expires > now }
                if e.count >= capacity, let soonest = e.min(by: { $0.value.expires < $1.value.expires })?.key {
                    e[soonest] = nil
                }
            }
            e[key] = entry
        }
    }

    /// Drops `name`'s cached HTTPS answer (a config in it turned out stale): the next lookup asks.
    public func forgetHTTPS(_ name: String) {
        let key = DNSCache.key(name)
        httpsEntries.withLock { e in e[key] = nil }
    }

    /// A cached HTTPS answer as an outcome (`source` ends in "(cache)"), with the TTL left.
    public func cachedHTTPS(_ name: String, now: UInt64 = MonotonicClock.now()) -> HTTPSOutcome? {
        guard let e = lookupHTTPS(name, now: now) else { return nil }
        if let failure = e.failure { return .failure("\(failure) (cached answer of \(e.source))") }
        let left = UInt32(clamping: max(1, (e.expires - now) / 1_000_000_000))
        return .records(e.records, ttl: left, source: "\(e.source) (cache)")
    }
}
