/// A name's HTTPS records (RFC 9460, type 65) as a resolver answered them, or why there is no
/// answer. No record at all is `.records([])`, not a failure; a record that does not parse is a
/// failure for that name only ("malformed HTTPS record for NAME: ...").
public enum HTTPSOutcome: Sendable, Equatable {
    /// ServiceMode records by priority (AliasMode ones last); `ttl` is what is left to cache.
    case records([HTTPSRecord], ttl: UInt32, source: String)
    case failure(String)

    /// Whether a failure only says that the resolver cannot give HTTPS records (the system
    /// resolver, the static map alone, a relay whose resolver cannot ask, an older relay), which
    /// is "no config" for ECH rather than an error about the name.
    public static func isUnavailable(_ reason: String) -> Bool {
        reason.contains("cannot ask for HTTPS records") || reason.contains("does not answer HTTPS queries")
            || reason.contains("no resolver asks for HTTPS records")
    }

    /// The ServiceMode record whose `ech` a client uses: the first by priority that has one.
    public var echRecord: HTTPSRecord? {
        guard case .records(let records, _, _) = self else { return nil }
        return records.first { !$0.isAliasMode && $0.params.ech != nil }
    }
}
