/// How much of each connection's TLS record flow is logged.
public enum RecordLogLevel: String, Sendable, CaseIterable {
    /// Nothing per connection.
    case off
    /// One summary line per connection.
    case summary
    /// One line per TLS record, plus the summary; relays in userspace so every record is seen.
    case records
}
