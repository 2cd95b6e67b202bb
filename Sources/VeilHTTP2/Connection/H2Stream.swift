/// One stream's state inside `H2ConnectionMachine` (RFC 9113 section 5.1, reduced to what a
/// CONNECT tunnel uses: open, half-closed either way, closed = removed).
struct H2Stream: Sendable {
    /// What we may still send (the peer's window for this stream; negative after the peer
    /// lowered SETTINGS_INITIAL_WINDOW_SIZE).
    var sendWindow: Int
    /// What the peer may still send us on this stream before our next WINDOW_UPDATE.
    var receiveWindow: Int
    /// Bytes the consumer has taken since the last WINDOW_UPDATE we sent for this stream.
    var consumedCredit = 0
    /// The consumer asked to send and the windows stopped it: `.writable` when they open.
    var blocked = false
    /// We sent END_STREAM (or RST).
    var localClosed = false
    /// The peer sent END_STREAM.
    var remoteClosed = false
    /// Client: the final (non-1xx) response headers came. Server: the request headers came.
    var headersDone = false
}
