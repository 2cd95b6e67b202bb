/// One parsed frame. Payloads are slices of the parser's input (no copy); padding is already
/// removed. Stream identifiers have the reserved bit cleared.
public enum H2Frame: Equatable, Sendable {
    case data(stream: UInt32, payload: ArraySlice<UInt8>, endStream: Bool, flowLength: Int)
    /// A HEADERS frame's field block fragment (priority fields skipped).
    case headers(stream: UInt32, fragment: ArraySlice<UInt8>, endStream: Bool, endHeaders: Bool)
    case continuation(stream: UInt32, fragment: ArraySlice<UInt8>, endHeaders: Bool)
    /// PRIORITY carries nothing Veil uses (RFC 9113 deprecates it); parsed for its checks only.
    case priority(stream: UInt32)
    case rstStream(stream: UInt32, code: H2ErrorCode)
    case settings(H2Settings)
    case settingsAck
    case ping(opaque: UInt64, ack: Bool)
    case goaway(lastStream: UInt32, code: H2ErrorCode, debug: ArraySlice<UInt8>)
    case windowUpdate(stream: UInt32, increment: UInt32)
    /// A frame of a type this implementation does not know: to be ignored (RFC 9113 section 4.1).
    case unknown(type: UInt8, stream: UInt32)

    /// The stream the frame belongs to (0: the connection).
    public var stream: UInt32 {
        switch self {
        case .data(let s, _, _, _), .headers(let s, _, _, _), .continuation(let s, _, _), .priority(let s),
             .rstStream(let s, _), .windowUpdate(let s, _), .unknown(_, let s):
            return s
        case .settings, .settingsAck, .ping, .goaway:
            return 0
        }
    }
}
