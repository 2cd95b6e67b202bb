/// `H2ConnectionMachine`'s connection-level state (RFC 9113 sections 3.4, 6.5 and 6.8); each case
/// carries what exists only in it. The streams (`H2Stream`), the peer's settings and the windows
/// sit beside it in the machine: they mean the same in every state but `failed`, where the
/// streams are gone and nothing more is read or sent.
///
/// awaitingPreface (server) -> awaitingSettings -> open -> goingAway, each marked when we sent
/// GOAWAY early (then SETTINGS leads to goingAway); any of them -> failed (docs/DESIGN.md has
/// the state x event table).
enum H2ConnectionState: Sendable {
    /// Server: the client preface is still expected, then its SETTINGS. `goawaySent`: we shut
    /// down before a byte came (a refused client, the relay stopping); the preface and SETTINGS
    /// are still checked, and a stream the client opens is refused.
    case awaitingPreface(goawaySent: Bool)
    /// The peer's first frame, a SETTINGS, has not come; any other frame is a connection error.
    /// The peer cannot have sent GOAWAY yet (it would not be a SETTINGS), so only ours is noted.
    case awaitingSettings(goawaySent: Bool)
    /// Streams open and close either way.
    case open
    /// GOAWAY received, sent, or both: no new stream; the open ones finish, then `.drained`.
    case goingAway(GoingAway)
    /// A connection error (sent as GOAWAY unless ours had gone already) or the transport's loss:
    /// every stream failed; frames and calls are ignored from now on.
    case failed(H2ConnectionError)

    struct GoingAway: Equatable, Sendable {
        /// The lowest last stream id of the peer's GOAWAYs (nil: only we sent one). Our streams
        /// above it were refused.
        var peerLastStream: UInt32?
        /// We sent GOAWAY: streams the peer opens from now on are refused.
        var sent: Bool
    }

    /// The initial state for `role`.
    init(role: H2ConnectionMachine.Role) {
        self = role == .server ? .awaitingPreface(goawaySent: false) : .awaitingSettings(goawaySent: false)
    }

    var failure: H2ConnectionError? {
        if case .failed(let error) = self { error } else { nil }
    }

    var isFailed: Bool {
        if case .failed = self { true } else { false }
    }

    /// The peer's GOAWAY's last stream (the lowest one), while going away.
    var peerGoaway: UInt32? {
        if case .goingAway(let g) = self { g.peerLastStream } else { nil }
    }

    /// We sent GOAWAY and the connection has not failed.
    var sentGoaway: Bool {
        switch self {
        case .awaitingPreface(let sent), .awaitingSettings(let sent): sent
        case .goingAway(let g): g.sent
        case .open, .failed: false
        }
    }

    /// No new stream may open: GOAWAY either way, or failed.
    var isGoingAway: Bool {
        switch self {
        case .awaitingPreface(let sent), .awaitingSettings(let sent): sent
        case .open: false
        case .goingAway, .failed: true
        }
    }

    /// GOAWAY either way and not failed: the connection ends once its last stream does.
    var drains: Bool { sentGoaway || peerGoaway != nil }

    /// The peer's first frame, a SETTINGS, came.
    mutating func settingsReceived() {
        guard case .awaitingSettings(let sent) = self else { return }
        self = sent ? .goingAway(GoingAway(peerLastStream: nil, sent: true)) : .open
    }

    /// A GOAWAY came with `lastStream`; returns the last stream that holds (a later GOAWAY may
    /// lower it, never raise it). Only `open` and `goingAway` see frames other than SETTINGS.
    mutating func goawayReceived(lastStream: UInt32) -> UInt32 {
        switch self {
        case .goingAway(var g):
            let last = min(lastStream, g.peerLastStream ?? UInt32.max)
            g.peerLastStream = last
            self = .goingAway(g)
            return last
        case .open:
            self = .goingAway(GoingAway(peerLastStream: lastStream, sent: false))
            return lastStream
        case .awaitingPreface, .awaitingSettings, .failed:
            return lastStream  // not reached: the machine fails or ignores the frame first
        }
    }

    /// We send GOAWAY; false when one went already (or the connection failed): send nothing.
    mutating func goawaySent() -> Bool {
        switch self {
        case .awaitingPreface(false): self = .awaitingPreface(goawaySent: true)
        case .awaitingSettings(false): self = .awaitingSettings(goawaySent: true)
        case .open: self = .goingAway(GoingAway(peerLastStream: nil, sent: true))
        case .goingAway(var g) where !g.sent:
            g.sent = true
            self = .goingAway(g)
        default: return false
        }
        return true
    }
}
