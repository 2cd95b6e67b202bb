/// An HTTP/2 error code (RFC 9113 section 7). A struct, not an enum: a peer may send codes this
/// list does not know, and they must be carried, not rejected.
public struct H2ErrorCode: RawRepresentable, Equatable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let noError = H2ErrorCode(rawValue: 0x0)
    public static let protocolError = H2ErrorCode(rawValue: 0x1)
    public static let internalError = H2ErrorCode(rawValue: 0x2)
    public static let flowControlError = H2ErrorCode(rawValue: 0x3)
    public static let settingsTimeout = H2ErrorCode(rawValue: 0x4)
    public static let streamClosed = H2ErrorCode(rawValue: 0x5)
    public static let frameSizeError = H2ErrorCode(rawValue: 0x6)
    public static let refusedStream = H2ErrorCode(rawValue: 0x7)
    public static let cancel = H2ErrorCode(rawValue: 0x8)
    public static let compressionError = H2ErrorCode(rawValue: 0x9)
    public static let connectError = H2ErrorCode(rawValue: 0xa)
    public static let enhanceYourCalm = H2ErrorCode(rawValue: 0xb)
    public static let inadequateSecurity = H2ErrorCode(rawValue: 0xc)
    public static let http11Required = H2ErrorCode(rawValue: 0xd)

    private static let names = [
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
        "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
        "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    ]

    /// The RFC's name (`PROTOCOL_ERROR`), or `0x..` for a code it does not name.
    public var description: String {
        rawValue < UInt32(Self.names.count) ? Self.names[Int(rawValue)] : "0x" + String(rawValue, radix: 16)
    }
}

/// A connection error (RFC 9113 section 5.4.1): the connection ends with GOAWAY carrying `code`;
/// `reason` is for the log (never sent with secrets in it).
public struct H2ConnectionError: Error, Equatable, Sendable, CustomStringConvertible {
    public var code: H2ErrorCode
    public var reason: String
    public init(_ code: H2ErrorCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }
    public var description: String { "\(code): \(reason)" }
}
