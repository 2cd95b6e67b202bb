extension TLSAlert {
    /// AlertDescription codes Veil sends or acts on by name (RFC 8446 6; `RecordFailure` names
    /// those its record layer answers refused records with).
    public enum Code {
        /// The sender ends its stream: the one authenticated end.
        public static let closeNotify: UInt8 = 0
        /// A handshake Veil cannot complete (the upstream one failed, so the client's cannot go on).
        public static let handshakeFailure: UInt8 = 40
        /// Veil refuses the handshake (an SNI that differs from the CONNECT host).
        public static let accessDenied: UInt8 = 49
    }

    /// close_notify at the warning level.
    public static let closeNotify = TLSAlert(level: .warning, code: Code.closeNotify)

    /// A fatal alert with this description.
    public static func fatal(_ code: UInt8) -> TLSAlert { TLSAlert(level: .fatal, code: code) }

    /// The two bytes of an alert record's body: level, then description.
    public var bytes: [UInt8] { [level.rawValue, code] }

    /// The whole plaintext alert record (TLS 1.2 record version, as a handshake refusal is sent).
    public var plaintextRecord: [UInt8] { [TLSContentType.alert.rawValue, 0x03, 0x03, 0x00, 0x02, level.rawValue, code] }
}
