/// Why Veil's record layer cannot go on with a record a peer sent, and the fatal alert that peer
/// gets for it (RFC 8446 sections 5 and 6; RFC 5246 7.2.2 for TLS 1.2): `bad_record_mac` for a
/// record that does not authenticate, `record_overflow` for one too long, `decode_error` for one
/// that cannot be parsed, `unexpected_message` for a record or message not allowed here.
public struct RecordFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The AlertDescription to send the peer, sealed with its session's keys, before closing.
    public let alert: UInt8
    public let reason: String

    public init(_ alert: UInt8, _ reason: String) {
        self.alert = alert
        self.reason = reason
    }

    public var description: String { reason }

    public static let unexpectedMessage: UInt8 = 10
    public static let badRecordMAC: UInt8 = 20
    public static let recordOverflow: UInt8 = 22
    public static let illegalParameter: UInt8 = 47
    public static let decodeError: UInt8 = 50
    public static let internalError: UInt8 = 80
}
