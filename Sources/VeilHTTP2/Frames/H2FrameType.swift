/// Frame types (RFC 9113 section 6) and flags.
public enum H2FrameType: UInt8, Sendable {
    case data = 0x0
    case headers = 0x1
    case priority = 0x2
    case rstStream = 0x3
    case settings = 0x4
    case pushPromise = 0x5
    case ping = 0x6
    case goaway = 0x7
    case windowUpdate = 0x8
    case continuation = 0x9
}

public enum H2Flag {
    public static let endStream: UInt8 = 0x1
    public static let ack: UInt8 = 0x1
    public static let endHeaders: UInt8 = 0x4
    public static let padded: UInt8 = 0x8
    public static let priority: UInt8 = 0x20
}

/// Protocol constants.
public enum H2 {
    /// The client connection preface (RFC 9113 section 3.4), before the client's SETTINGS.
    public static let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
    public static let frameHeaderSize = 9
    /// SETTINGS_MAX_FRAME_SIZE's initial value and its lower bound.
    public static let defaultMaxFrameSize = 16_384
    /// SETTINGS_MAX_FRAME_SIZE's upper bound (2^24 - 1).
    public static let maxMaxFrameSize = 16_777_215
    /// SETTINGS_INITIAL_WINDOW_SIZE's initial value, also the connection window's.
    public static let defaultWindowSize = 65_535
    /// The largest flow-control window (2^31 - 1).
    public static let maxWindowSize = 2_147_483_647
}
