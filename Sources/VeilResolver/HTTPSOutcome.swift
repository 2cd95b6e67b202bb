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
    /// Asked once per connection with `--ech auto` (the default): a byte search, since
    /// `String.contains` (string processing) cost ~185,000 instructions here, 3% of a connection.
    public static func isUnavailable(_ reason: String) -> Bool {
        var reason = reason
        return reason.withUTF8 { bytes in unavailableMarkers.contains { bytes.containsBytes($0) } }
    }

    private static let unavailableMarkers: [[UInt8]] = [
        Array("cannot ask for HTTPS records".utf8), Array("does not answer HTTPS queries".utf8),
        Array("no resolver asks for HTTPS records".utf8),
    ]

    /// The ServiceMode record whose `ech` a client uses: the first by priority that has one.
    public var echRecord: HTTPSRecord? {
        guard case .records(let records, _, _) = self else { return nil }
        return records.first { !$0.isAliasMode && $0.params.ech != nil }
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
    /// Whether `needle` occurs in these bytes (a plain scan: the strings are short).
    fileprivate func containsBytes(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard needle.count <= count else { return false }
        let first = needle[0]
        for start in 0...(count - needle.count) where self[start] == first {
            var i = 1
            while i < needle.count, self[start + i] == needle[i] { i += 1 }
            if i == needle.count { return true }
        }
        return false
    }
}
