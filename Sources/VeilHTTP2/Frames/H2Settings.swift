/// The settings one SETTINGS frame carries (RFC 9113 section 6.5.2), each nil when the frame
/// does not set it (the last value wins when a frame repeats one). Unknown identifiers are
/// ignored, as the RFC requires. A fixed struct, not a list: parsing allocates nothing.
public struct H2Settings: Equatable, Sendable {
    public var headerTableSize: UInt32?
    public var enablePush: Bool?
    public var maxConcurrentStreams: UInt32?
    public var initialWindowSize: UInt32?
    public var maxFrameSize: UInt32?
    public var maxHeaderListSize: UInt32?
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441), carried for the log only.
    public var enableConnectProtocol: Bool?

    public init(headerTableSize: UInt32? = nil, enablePush: Bool? = nil, maxConcurrentStreams: UInt32? = nil,
                initialWindowSize: UInt32? = nil, maxFrameSize: UInt32? = nil, maxHeaderListSize: UInt32? = nil) {
        self.headerTableSize = headerTableSize
        self.enablePush = enablePush
        self.maxConcurrentStreams = maxConcurrentStreams
        self.initialWindowSize = initialWindowSize
        self.maxFrameSize = maxFrameSize
        self.maxHeaderListSize = maxHeaderListSize
    }

    public enum Identifier: UInt16, Sendable {
        case headerTableSize = 0x1
        case enablePush = 0x2
        case maxConcurrentStreams = 0x3
        case initialWindowSize = 0x4
        case maxFrameSize = 0x5
        case maxHeaderListSize = 0x6
        case enableConnectProtocol = 0x8
    }

    /// Applies one (identifier, value) pair, checking the RFC's bounds.
    mutating func apply(identifier: UInt16, value: UInt32) throws(H2ConnectionError) {
        guard let id = Identifier(rawValue: identifier) else { return }
        switch id {
        case .headerTableSize: headerTableSize = value
        case .enablePush:
            guard value <= 1 else { throw H2ConnectionError(.protocolError, "SETTINGS_ENABLE_PUSH \(value) (0 or 1)") }
            enablePush = value == 1
        case .maxConcurrentStreams: maxConcurrentStreams = value
        case .initialWindowSize:
            guard value <= UInt32(H2.maxWindowSize) else {
                throw H2ConnectionError(.flowControlError, "SETTINGS_INITIAL_WINDOW_SIZE \(value) above 2^31-1")
            }
            initialWindowSize = value
        case .maxFrameSize:
            guard value >= UInt32(H2.defaultMaxFrameSize), value <= UInt32(H2.maxMaxFrameSize) else {
                throw H2ConnectionError(.protocolError, "SETTINGS_MAX_FRAME_SIZE \(value) outside 16384...16777215")
            }
            maxFrameSize = value
        case .maxHeaderListSize: maxHeaderListSize = value
        case .enableConnectProtocol:
            guard value <= 1 else { throw H2ConnectionError(.protocolError, "SETTINGS_ENABLE_CONNECT_PROTOCOL \(value)") }
            enableConnectProtocol = value == 1
        }
    }

    /// The pairs this value sets, in identifier order (for the writer).
    var pairs: [(UInt16, UInt32)] {
        var out: [(UInt16, UInt32)] = []
        if let v = headerTableSize { out.append((Identifier.headerTableSize.rawValue, v)) }
        if let v = enablePush { out.append((Identifier.enablePush.rawValue, v ? 1 : 0)) }
        if let v = maxConcurrentStreams { out.append((Identifier.maxConcurrentStreams.rawValue, v)) }
        if let v = initialWindowSize { out.append((Identifier.initialWindowSize.rawValue, v)) }
        if let v = maxFrameSize { out.append((Identifier.maxFrameSize.rawValue, v)) }
        if let v = maxHeaderListSize { out.append((Identifier.maxHeaderListSize.rawValue, v)) }
        if let v = enableConnectProtocol { out.append((Identifier.enableConnectProtocol.rawValue, v ? 1 : 0)) }
        return out
    }
}
