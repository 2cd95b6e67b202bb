/// A TLS alert (RFC 8446 §6): a level and a description code.
public struct TLSAlert: Sendable, Hashable, CustomStringConvertible {
    /// Alert severity.
    public enum Level: UInt8, Sendable, Hashable {
        case warning = 1
        case fatal = 2

        /// `warning` or `fatal`.
        public var name: String {
            switch self {
            case .warning: "warning"
            case .fatal: "fatal"
            }
        }
    }

    public var level: Level
    /// The AlertDescription code, e.g. 40 for handshake_failure.
    public var code: UInt8

    public init(level: Level, code: UInt8) {
        self.level = level
        self.code = code
    }

    /// Parses the body of a plaintext alert record: exactly two bytes, level then description.
    public init(body: some Collection<UInt8>) throws(TLSParseError) {
        guard body.count == 2 else {
            if body.count < 2 { throw .truncated("alert") }
            throw .malformed("alert: record holds \(body.count) bytes, expected 2")
        }
        var iterator = body.makeIterator()
        guard let levelByte = iterator.next(), let code = iterator.next() else { throw .truncated("alert") }
        guard let level = Level(rawValue: levelByte) else { throw .malformed("alert: level \(levelByte)") }
        self.init(level: level, code: code)
    }

    /// The description's name, e.g. `handshake_failure`; unknown codes read `alert(N)`.
    public var name: String { TLSAlert.name(for: code) }

    /// `fatal handshake_failure`.
    public var description: String { level.name + " " + name }

    /// The handshake-message style summary used in record log lines: `Alert fatal handshake_failure`.
    public var summary: String { "Alert " + description }

    /// The name of any AlertDescription code.
    public static func name(for code: UInt8) -> String {
        switch code {
        case 0: "close_notify"
        case 10: "unexpected_message"
        case 20: "bad_record_mac"
        case 21: "decryption_failed"
        case 22: "record_overflow"
        case 30: "decompression_failure"
        case 40: "handshake_failure"
        case 41: "no_certificate"
        case 42: "bad_certificate"
        case 43: "unsupported_certificate"
        case 44: "certificate_revoked"
        case 45: "certificate_expired"
        case 46: "certificate_unknown"
        case 47: "illegal_parameter"
        case 48: "unknown_ca"
        case 49: "access_denied"
        case 50: "decode_error"
        case 51: "decrypt_error"
        case 60: "export_restriction"
        case 70: "protocol_version"
        case 71: "insufficient_security"
        case 80: "internal_error"
        case 86: "inappropriate_fallback"
        case 90: "user_canceled"
        case 100: "no_renegotiation"
        case 109: "missing_extension"
        case 110: "unsupported_extension"
        case 111: "certificate_unobtainable"
        case 112: "unrecognized_name"
        case 113: "bad_certificate_status_response"
        case 114: "bad_certificate_hash_value"
        case 115: "unknown_psk_identity"
        case 116: "certificate_required"
        case 120: "no_application_protocol"
        case 121: "ech_required"
        default: "alert(" + String(code) + ")"
        }
    }
}
