/// One HTTP/2 connection (RFC 9113) as a value: bytes and calls in, actions and bytes out. The
/// owner (`RelayMux` on the ring thread, or a test) feeds what it read with `receive`, sends
/// what `outbound` holds (then `didSend`), and performs the actions; the machine touches no
/// socket and no clock.
///
/// Roles: the client opens CONNECT streams (RFC 9113 section 8.5); the server role accepts
/// them and answers (for the relay side and for tests that run both ends).
///
/// Flow control, both ways:
/// - Sending: `sendData` takes only what the peer's stream and connection windows (and its
///   SETTINGS_MAX_FRAME_SIZE per frame) allow, and says how much; the stream is marked blocked
///   and gets `.writable` when a WINDOW_UPDATE (or a SETTINGS change) opens its windows.
/// - Receiving: a stream's window is granted back only as the consumer calls `consumed` (the
///   bridge has taken the bytes), so what waits for a slow consumer is bounded by the stream
///   window. The connection window is granted back as DATA arrives: holding it until the
///   consumer takes the bytes would let one slow stream eat it and stall the others; memory
///   stays bounded by open streams x stream window.
///
/// Actions hold slices of the machine's input: copy what `.data` carries, and drop the actions,
/// before the next call to `receive` (the owner reuses one actions array).
public struct H2ConnectionMachine: Sendable {
    public enum Role: Sendable { case client, server }

    public struct Configuration: Sendable {
        public var role: Role
        /// Our SETTINGS_INITIAL_WINDOW_SIZE: what waits per stream for a slow consumer at most.
        public var streamWindow: Int
        /// Our connection receive window (raised from 65,535 with a WINDOW_UPDATE at the start).
        public var connectionWindow: Int
        /// Our SETTINGS_MAX_FRAME_SIZE.
        public var maxFrameSize: Int
        /// Our SETTINGS_MAX_CONCURRENT_STREAMS (what the peer may open; server role).
        public var maxConcurrentStreams: Int
        /// Largest field block accepted (HEADERS plus CONTINUATION), and our SETTINGS_MAX_HEADER_LIST_SIZE.
        public var maxHeaderBlock: Int

        public init(role: Role, streamWindow: Int = 256 * 1024, connectionWindow: Int = 16 * 1024 * 1024,
                    maxFrameSize: Int = H2.defaultMaxFrameSize, maxConcurrentStreams: Int = 256, maxHeaderBlock: Int = 65_536) {
            self.role = role
            self.streamWindow = min(max(streamWindow, H2.defaultWindowSize), H2.maxWindowSize)
            self.connectionWindow = min(max(connectionWindow, H2.defaultWindowSize), H2.maxWindowSize)
            self.maxFrameSize = min(max(maxFrameSize, H2.defaultMaxFrameSize), H2.maxMaxFrameSize)
            self.maxConcurrentStreams = maxConcurrentStreams
            self.maxHeaderBlock = maxHeaderBlock
        }
    }

    public enum Action: Equatable, Sendable {
        /// Client: the final response to a request (CONNECT: 2xx, the tunnel is up; otherwise it
        /// failed and the stream is closed), with its fields other than pseudo-fields.
        case response(stream: UInt32, status: Int, fields: [HPACKHeader])
        /// Server: a new stream's request headers.
        case request(stream: UInt32, headers: [HPACKHeader])
        /// Tunnel bytes for the consumer (call `consumed` as it takes them).
        case data(stream: UInt32, bytes: ArraySlice<UInt8>)
        /// The peer ended its side (END_STREAM): the tunnel's half-close.
        case remoteEnd(stream: UInt32)
        /// The stream ended abnormally (peer's RST_STREAM, a GOAWAY that did not cover it, a
        /// stream error, the connection's failure). `retryable`: the peer did not process it
        /// (REFUSED_STREAM or above a GOAWAY's last stream), so it may be opened elsewhere.
        case reset(stream: UInt32, code: H2ErrorCode, retryable: Bool, reason: String)
        /// Both sides ended normally; the stream is gone.
        case closed(stream: UInt32)
        /// The windows opened for a stream that `sendData` had stopped.
        case writable(stream: UInt32)
        case pingAck(opaque: UInt64)
        /// The peer sends GOAWAY: no new streams; ours up to `lastStream` continue.
        case goaway(lastStream: UInt32, code: H2ErrorCode, debug: String)
        /// The connection failed (a protocol error either way, or `lost`): GOAWAY is in
        /// `outbound` when we detected it; send it, then close.
        case failed(H2ConnectionError)
        /// After a GOAWAY (either way) the last stream has ended: close the connection.
        case drained
    }

    public enum OpenRefusal: Error, Equatable, Sendable {
        /// GOAWAY received or sent, or the connection has failed.
        case goingAway
        /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached.
        case tooManyStreams
        /// Stream identifiers are used up: a new connection is needed.
        case exhausted
        case notClient
    }

    public let configuration: Configuration
    /// Bytes to send, in order. The owner sends from the start and calls `didSend`.
    public internal(set) var outbound: [UInt8] = []
    var inbound: [UInt8] = []
    var inboundStart = 0
    var parser: H2FrameParser
    var encoder = HPACKEncoder()
    var decoder: HPACKDecoder
    var streams: [UInt32: H2Stream] = [:]

    /// Preface and SETTINGS awaited, open, going away (GOAWAY either way), failed.
    var state: H2ConnectionState
    /// A header block in progress (HEADERS without END_HEADERS): only its CONTINUATION may follow.
    /// Not a case of `state`: it is a frame-level sub-state that runs the same in `open` and in
    /// `goingAway` (a GOAWAY may come or go out between HEADERS and its CONTINUATION), so as a
    /// case it would double those two; it is cleared when the connection fails.
    var headerBlock: (stream: UInt32, endStream: Bool, bytes: [UInt8])?

    // The peer's settings.
    var peerInitialWindow = H2.defaultWindowSize
    var peerMaxFrameSize = H2.defaultMaxFrameSize
    public internal(set) var peerMaxConcurrentStreams = Int.max
    var connectionSendWindow = H2.defaultWindowSize
    var connectionReceiveWindow = H2.defaultWindowSize
    var connectionCredit = 0

    /// Our next stream id (client: odd; server: even, unused).
    var nextStreamID: UInt32
    /// The highest stream id the peer opened (for our GOAWAY and for idle-stream checks).
    public internal(set) var lastPeerStream: UInt32 = 0
    /// Our SETTINGS (sent by `start`) are not acknowledged yet (RFC 9113 section 6.5.3: the
    /// owner may treat a long wait as SETTINGS_TIMEOUT).
    public internal(set) var awaitingSettingsAck = false
    var pingCounter: UInt64 = 0

    public init(_ configuration: Configuration) {
        self.configuration = configuration
        parser = H2FrameParser(maxFrameSize: configuration.maxFrameSize)
        decoder = HPACKDecoder(maxHeaderListSize: configuration.maxHeaderBlock)
        state = H2ConnectionState(role: configuration.role)
        nextStreamID = configuration.role == .client ? 1 : 2
        outbound.reserveCapacity(64 * 1024)
    }

    /// Streams open now (either side not closed yet).
    public var openStreams: Int { streams.count }
    /// No new stream may open on this connection (GOAWAY either way, or failed).
    public var isGoingAway: Bool { state.isGoingAway }
    /// The connection's error, once it failed.
    public var failure: H2ConnectionError? { state.failure }
    /// The last stream id of the peer's GOAWAY (the lowest, when several came); nil before one
    /// came, and once the connection failed.
    public var peerGoaway: UInt32? { state.peerGoaway }
    /// We sent GOAWAY (false once the connection failed: see `failure`).
    public var sentGoaway: Bool { state.sentGoaway }

    /// The connection's first bytes: the client preface (client role) and our SETTINGS, plus a
    /// WINDOW_UPDATE raising the connection window.
    public mutating func start() {
        if configuration.role == .client { outbound += H2.clientPreface }
        var settings = H2Settings(initialWindowSize: UInt32(configuration.streamWindow),
                                  maxFrameSize: UInt32(configuration.maxFrameSize),
                                  maxHeaderListSize: UInt32(configuration.maxHeaderBlock))
        if configuration.role == .client {
            settings.enablePush = false
        } else {
            settings.maxConcurrentStreams = UInt32(configuration.maxConcurrentStreams)
        }
        H2FrameWriter.settings(settings, into: &outbound)
        awaitingSettingsAck = true
        let raise = configuration.connectionWindow - H2.defaultWindowSize
        if raise > 0 {
            H2FrameWriter.windowUpdate(stream: 0, increment: UInt32(raise), into: &outbound)
            connectionReceiveWindow += raise
        }
    }

    /// The owner sent the first `count` bytes of `outbound`.
    public mutating func didSend(_ count: Int) {
        outbound.removeFirst(min(count, outbound.count))
    }

    /// The transport ended or the owner gave up on it (TLS failure, keepalive): every stream
    /// fails with `reason`; nothing more is sent.
    public mutating func lost(_ reason: String, actions: inout [Action]) {
        guard !state.isFailed else { return }
        let error = H2ConnectionError(.internalError, reason)
        state = .failed(error)
        headerBlock = nil
        failAllStreams(code: .internalError, reason: reason, actions: &actions)
        actions.append(.failed(error))
    }

    /// A connection error found here: GOAWAY with the code, every stream fails.
    mutating func fail(_ error: H2ConnectionError, actions: inout [Action]) {
        guard !state.isFailed else { return }
        if state.goawaySent() {
            H2FrameWriter.goaway(lastStream: lastPeerStream, code: error.code, debug: Array(error.reason.utf8.prefix(256)), into: &outbound)
        }
        state = .failed(error)
        headerBlock = nil
        failAllStreams(code: error.code, reason: "\(error)", actions: &actions)
        actions.append(.failed(error))
    }

    mutating func failAllStreams(code: H2ErrorCode, reason: String, actions: inout [Action]) {
        for id in streams.keys.sorted() {
            actions.append(.reset(stream: id, code: code, retryable: false, reason: reason))
        }
        streams.removeAll()
    }

    /// Removes a stream whose two sides have ended; `.drained` when it was the last after a GOAWAY.
    mutating func closeIfDone(_ id: UInt32, actions: inout [Action]) {
        guard let s = streams[id], s.localClosed, s.remoteClosed else { return }
        streams[id] = nil
        actions.append(.closed(stream: id))
        drainCheck(actions: &actions)
    }

    mutating func drainCheck(actions: inout [Action]) {
        if streams.isEmpty, state.drains { actions.append(.drained) }
    }
}
