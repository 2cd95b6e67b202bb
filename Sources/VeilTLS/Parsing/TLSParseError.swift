/// Everything that can be wrong with bytes handed to VeilTLS. Every parser in this module reports
/// malformed input with one of these cases; none of them traps or allocates a declared length.
public enum TLSParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first byte is not a TLS content type (plain HTTP `GET` starts with 0x47).
    case notTLS(firstByte: UInt8)
    /// The record header's protocol version does not have major version 3.
    case badVersion(UInt16)
    /// A record declares (or holds) more than `TLSRecordHeader.maxLength` bytes.
    case recordTooLong(Int)
    /// A record of a type that must not be empty (handshake, alert, change_cipher_spec) has length 0.
    case emptyRecord(TLSContentType)
    /// The input ended before the named field was complete.
    case truncated(String)
    /// A handshake message declares a length above the reassembler's bound.
    case messageTooLarge(Int)
    /// A field is structurally invalid (bad length, duplicate extension, forbidden byte...).
    case malformed(String)
    /// A well-formed message arrived where the protocol does not allow it.
    case unexpectedMessage(String)

    /// A human-readable explanation suitable for a log line, e.g.
    /// `client sent non-TLS data (first byte 0x47)`.
    public var description: String { description(from: .client) }

    /// Like `description`, but names the peer that sent the offending bytes.
    public func description(from side: TLSFlowTracker.Side) -> String {
        switch self {
        case .notTLS(let firstByte):
            return (side == .client ? "client" : "server") + " sent non-TLS data (first byte " + Hex.byte(firstByte) + ")"
        case .badVersion(let version):
            return "bad record version " + Hex.word(version) + " (major version must be 3)"
        case .recordTooLong(let length):
            return "record length " + String(length) + " exceeds limit " + String(TLSRecordHeader.maxLength)
        case .emptyRecord(let type):
            return "empty " + type.name + " record"
        case .truncated(let what):
            return "truncated " + what
        case .messageTooLarge(let length):
            return "handshake message length " + String(length) + " exceeds limit"
        case .malformed(let what):
            return "malformed " + what
        case .unexpectedMessage(let what):
            return "unexpected message (" + what + ")"
        }
    }
}
