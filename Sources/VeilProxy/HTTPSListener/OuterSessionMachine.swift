import VeilRuntime
import VeilTLS

/// The outer TLS session of the HTTPS proxy listener (`--listen-tls`), and of a `--route tunnel`
/// session once the relay answered 200, as a value: events in, actions out. The driver
/// (`TLSFront`, on the ring thread) turns completions, deadlines and messages into events
/// and performs the actions; this type decides everything and never touches a socket or a clock.
///
///     client --TLS (outer)--> OuterSession <--bridge--> Connection --> upstream     (listener)
///     Connection <--bridge--> OuterSession --TLS (outer)--> relay                   (tunnel)
///
/// Listener: `created -> handshake -> [installingKernelTLS] -> openingBridge -> relay -> closed`,
/// with `failing` (a handshake alert or the 400 for plain HTTP goes out) and `alerting` (a fatal
/// alert for a record Veil refused goes out after the connection ended). A tunnel starts in
/// `created` with the established session and goes to `relay` (through `installingKernelTLS`
/// when nothing of it is inside OpenSSL yet).
///
/// Ends: the peer's close_notify or bare FIN becomes a shut write side on the bridge (the
/// connection behind judges its own TLS inside); the bridge's end becomes close_notify to the
/// peer only when the connection vouched for it (`bridgeEndAuthenticated`), else a bare FIN.
struct OuterSessionMachine {
    enum State {
        /// Not started: the listener's engine (or why there is none), or a tunnel's session.
        case created(Start)
        case handshake(OuterHandshake)
        /// The handshake failed (or plain HTTP came): what is queued (an alert, the 400) goes out,
        /// then the session closes with the reason.
        case failing(OuterHandshake, CloseReason)
        /// The driver is installing kTLS on the socket with the session's keys.
        case installingKernelTLS(TLSEngine, then: AfterHandshake)
        /// Listener: the driver is opening the bridge and starting the connection behind it.
        case openingBridge(OuterRecords)
        case relay(OuterRelay)
        /// After the connection ended: the fatal alert for a record Veil refused goes out (within
        /// a second), then the session closes with the reason.
        case alerting(OuterRelay, CloseReason)
        /// Ended. `keeping`: the session's engine, whose buffers operations still in flight may
        /// use until the owner's finalize (`release()`).
        case closed(CloseReason, keeping: TLSEngine?)
    }

    enum Start {
        case listener(Result<TLSEngine, OuterSessionFailure>)
        /// The relay's established session, plaintext already read from it for the bridge, and
        /// the relay buffers.
        case tunnel(TLSEngine, pending: [UInt8], OuterBuffers)
    }

    /// What follows the kTLS install.
    enum AfterHandshake {
        /// Listener: open the bridge (and start the connection).
        case openBridge
        /// Tunnel: relay at once (the bridge exists).
        case relay(OuterBuffers)
    }

    enum Side: Equatable, Sendable {
        /// The TLS socket (the listener's client, or the relay).
        case outer
        /// The socketpair to the connection.
        case bridge
    }

    enum Deadline: Equatable {
        case after(nanoseconds: UInt64)
        case at(UInt64)
        case none
    }

    enum Event {
        case start
        /// A receive on `side` completed (userspace: into the engine's input; bridge: into the
        /// down buffer).
        case received(Side, result: Int32)
        /// kTLS: recvmsg of one outer record completed; `type` and `body` from the record
        /// message (meaningful when `result > 0`).
        case receivedRecord(result: Int32, type: UInt8, body: UnsafeRawPointer)
        case sent(Side, result: Int32)
        /// shutdown(SHUT_WR) on `side` completed.
        case shutDown(Side)
        /// The kTLS install finished: nil, or why it failed.
        case kernelTLSInstalled(error: String?)
        case bridgeOpened(OuterBuffers)
        /// The bridge could not be made ("socketpair: ...").
        case bridgeFailed(String)
        /// The connection vouches for the end it is about to pass on to the bridge.
        case bridgeEndAuthenticated
        case deadlinePassed(now: UInt64)
        case shutdownRequested(graceDeadline: UInt64)
        case closeRequested(CloseReason)
        /// kTLS: no record message for the receive.
        case outOfMemory
    }

    enum Action: Equatable {
        case receive(Side, into: UnsafeMutableRawPointer, count: Int)
        /// kTLS: recvmsg one record from the outer socket into the driver's record message.
        case receiveRecord
        case send(Side, from: UnsafeRawPointer, count: Int)
        /// kTLS: sendmsg `bytes` as one record of content `type` on the outer socket.
        case sendRecord(type: UInt8, bytes: [UInt8])
        case shutdownWrite(Side)
        case setDeadline(Deadline)
        /// setsockopt TCP_ULP and TLS_RX/TLS_TX on the outer socket; answer `.kernelTLSInstalled`.
        case installKernelTLS(transmit: KernelTLSKeys, receive: KernelTLSKeys)
        /// Listener: socketpair, relay buffers, the connection on the other end (its summary
        /// line carries `info`); answer `.bridgeOpened` or `.bridgeFailed`.
        case openBridge(FrontInfo)
        /// Tunnel: the connection goes on over its end of the bridge.
        case tunnelEstablished(path: ConnectionSummary.DataPath, note: String?)
        /// Summary: who protects the outer records (`front_records=`/`tunnel_records=`).
        case noteRecords(String, note: String?)
        /// Summary: how the peer ended the outer session (`front_end=`/`tunnel_end=`).
        case noteEnd(StreamEnd)
        /// The connection behind ends now with `reason` (unless it already answered with one).
        case endConnection(CloseReason)
        /// The session ends: the connection behind with it when `reason` is not `ok`; with
        /// `summary`, no connection was ever started and the session writes the one summary line
        /// itself, with these outer-session fields.
        case close(CloseReason, summary: FrontInfo?)
    }

    /// Fixed facts of one session.
    struct Settings {
        var peer: OuterPeer
        var handshakeTimeout: Double
        var grace: Double
        /// The kernel offers kTLS (and `--ktls` is not off).
        var kernelTLS: Bool
        var recordLayer: RecordLayerMode
        /// When the session was accepted (monotonic nanoseconds).
        var started: UInt64
        /// Shutdown had begun when the session was accepted: the grace period ends then.
        var graceDeadline: UInt64?
    }

    static let takeoverAfterBytes = 64 << 10
    /// Room kept in the engine's output for one more record before writing bridge bytes into it.
    static let recordRoom = 17 << 10
    /// Most plaintext read at once (from the bridge, or out of OpenSSL).
    static let chunk = 16 << 10
    /// How long a peer that got Veil's end may take to close its own.
    static let lingerNanos: UInt64 = 2_000_000_000
    /// How long the fatal alert for a refused record may take to go out.
    static let alertNanos: UInt64 = 1_000_000_000
    /// A close_notify alert's body (level warning, description 0).
    static let closeNotify: [UInt8] = [TLSAlert.Level.warning.rawValue, 0]

    var state: State
    let settings: Settings
    /// Shutdown began: the grace period ends here.
    private(set) var graceDeadline: UInt64?

    /// The HTTPS listener's session for a client just accepted: `engine` (server role, with the
    /// listener's certificate) or why it could not be made.
    init(listener engine: Result<TLSEngine, OuterSessionFailure>, settings: Settings) {
        state = .created(.listener(engine))
        self.settings = settings
        graceDeadline = settings.graceDeadline
    }

    /// A relay tunnel's established session (the relay answered 200), with `pending` plaintext
    /// that followed the answer, for the bridge.
    init(tunnel engine: TLSEngine, pending: [UInt8], buffers: OuterBuffers, settings: Settings) {
        state = .created(.tunnel(engine, pending: pending, buffers))
        self.settings = settings
        graceDeadline = settings.graceDeadline
    }

    var peer: OuterPeer { settings.peer }

    /// The close reason once closed.
    var closeReason: CloseReason? {
        if case .closed(let reason, _) = state { return reason }
        return nil
    }

    /// The connection vouched for the end it passes on to the bridge.
    var bridgeEndAuthenticated: Bool {
        switch state {
        case .relay(let r), .alerting(let r, _): r.bridgeEndAuthenticated
        default: false
        }
    }

    /// Nothing is in flight any more: the engine kept for operations in flight goes.
    mutating func release() {
        if case .closed(let reason, .some) = state { state = .closed(reason, keeping: nil) }
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch event {
        case .start: start(&actions)
        case .received(.outer, let result): outerReceived(result, &actions)
        case .receivedRecord(let result, let type, let body): recordReceived(result, type: type, body: body, &actions)
        case .received(.bridge, let result): bridgeReceived(result, &actions)
        case .sent(.outer, let result): outerSent(result, &actions)
        case .sent(.bridge, let result): bridgeSent(result, &actions)
        case .shutDown(.outer): outerShutDown(&actions)
        case .shutDown(.bridge): break  // the bridge's write side counts as shut once asked for
        case .kernelTLSInstalled(let error): kernelTLSInstalled(error, &actions)
        case .bridgeOpened(let buffers): bridgeOpened(buffers, &actions)
        case .bridgeFailed(let why): close(.bridge(why), &actions)
        case .bridgeEndAuthenticated:
            // The connection exists only from `relay` on.
            if case .relay(let r) = state { r.bridgeEndAuthenticated = true }
        case .deadlinePassed(let now): deadlinePassed(now: now, &actions)
        case .shutdownRequested(let deadline): shutdownRequested(graceDeadline: deadline, &actions)
        case .closeRequested(let reason): close(.requested(reason), &actions)
        case .outOfMemory: close(.outOfMemory, &actions)
        }
    }

    // MARK: Deadlines and shutdown

    private mutating func deadlinePassed(now: UInt64, _ actions: inout [Action]) {
        switch state {
        case .handshake, .failing:
            if let g = graceDeadline, now >= g {
                close(.graceEnded(seconds: settings.grace), &actions)
            } else {
                close(.handshakeTimeout(seconds: settings.handshakeTimeout), &actions)
            }
        case .relay:
            close(.lingerExpired, &actions)
        case .alerting(_, let reason):
            close(reason, &actions)
        case .created, .installingKernelTLS, .openingBridge, .closed:
            break
        }
    }

    /// A session still in its handshake may finish it within the grace period (its connection
    /// then answers 503); a relaying one ends with its connection, which has the grace period.
    private mutating func shutdownRequested(graceDeadline deadline: UInt64, _ actions: inout [Action]) {
        graceDeadline = deadline
        switch state {
        case .handshake, .failing:
            actions.append(.setDeadline(.at(min(settings.started &+ settings.handshakeTimeout.nanoseconds, deadline))))
        default:
            break
        }
    }

    // MARK: Closing

    /// Ends the session. Before its connection exists the session writes the summary line
    /// itself; after, a failure of the outer session ends the connection with that reason.
    mutating func close(_ failure: OuterSessionFailure, _ actions: inout [Action]) {
        close(failure.closeReason(peer: peer), &actions)
    }

    mutating func close(_ reason: CloseReason, _ actions: inout [Action]) {
        let summary: FrontInfo?
        let engine: TLSEngine?
        switch state {
        case .closed:
            return
        case .relay(let r), .alerting(let r, _):
            summary = nil
            engine = r.records.engine
        case .created(.tunnel(let e, _, _)):
            summary = nil
            engine = e
        case .created(.listener):
            summary = FrontInfo(tls: "-", cipher: "-", path: nil, note: nil)
            engine = nil
        case .handshake(let h), .failing(let h, _):
            summary = OuterSessionMachine.ownSummary(h.engine)
            engine = h.engine
        case .installingKernelTLS(let e, let then):
            if case .relay = then { summary = nil } else { summary = OuterSessionMachine.ownSummary(e) }
            engine = e
        case .openingBridge(let records):
            summary = OuterSessionMachine.ownSummary(records.engine)
            engine = records.engine
        }
        state = .closed(reason, keeping: engine)
        actions.append(.close(reason, summary: summary))
    }

    private static func ownSummary(_ e: TLSEngine?) -> FrontInfo {
        FrontInfo(tls: e?.version ?? "-", cipher: e?.cipher ?? "-", path: nil, note: nil)
    }
}
