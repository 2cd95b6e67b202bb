import VeilRuntime
import VeilWire

/// The life of one `--relay-mux on` connection to a relay, as a value: events in, actions out.
/// The owner (`RelayMux`, on the ring thread) keeps the socket, the TLS engine, the
/// `H2ConnectionMachine` and the streams, turns completions and its deadline into events and
/// performs the actions; this decides when to connect, whether the relay is the pinned one and
/// speaks HTTP/2, when to PING, when the connection is dead, and when it drains and closes.
///
/// `created -> waiting -> connecting -> handshake -> up -> draining -> closed`
///
/// - `waiting` until the relay's backoff has passed (`start`'s `connectAt`); one deadline,
///   `connect-timeout`, covers the TCP connect and the TLS handshake.
/// - `up`: a PING every `relay-keepalive`; `relay-dead-after` of them unanswered make the
///   connection lost, an ACK resets the count. The first keepalive deadline after up also checks
///   that the relay acknowledged our SETTINGS (RFC 9113 section 6.5.3, SETTINGS_TIMEOUT): a
///   relay that has not within one keepalive interval is lost. (Checked at every keepalive
///   deadline in fact: once acknowledged the flag never comes back, as SETTINGS are sent once.)
/// - `draining`: no new streams (GOAWAY received or sent, stream ids used up, shutdown); the
///   streams on it finish (keepalive goes on), then `closed` once none is left.
/// - `closed`: lost (the streams fail, the relay backs off) or drained; nothing more.
struct RelayLinkMachine {
    /// Keepalive while HTTP/2 runs.
    struct Keepalive: Equatable {
        /// PINGs sent and not acknowledged yet.
        var unanswered = 0
    }

    enum State: Equatable {
        case created
        /// Until the relay's backoff ends (MonotonicClock nanoseconds).
        case waiting(connectAt: UInt64)
        /// The TCP connect is in flight; `deadline` covers connect and handshake.
        case connecting(deadline: UInt64)
        case handshake(deadline: UInt64)
        /// HTTP/2 runs; new streams may open.
        case up(Keepalive)
        /// No new stream; the open ones finish. `keepalive` nil: it never came up (shutdown
        /// before), nothing runs on it.
        case draining(Keepalive?)
        case closed(Ending)
    }

    enum Ending: Equatable {
        /// Lost: the reason of the `relay down:` line.
        case lost(String)
        /// Drained, or shut down with nothing on it: `relay closed:`.
        case closed
    }

    /// What the TLS engine said after a step of the handshake.
    enum Handshake {
        case needsInput
        /// `fingerprint`: SHA-256 of the relay's certificate (nil: none); `alpn`: the protocol
        /// it chose (nil: none).
        case complete(fingerprint: [UInt8]?, alpn: String?)
        case failed(String)
    }

    /// How the transport ended under a connection that was set up (or being set up).
    enum TransportEnd {
        /// A receive failed (negative errno).
        case readError(Int32)
        /// A receive returned 0.
        case closed
        /// TLS close_notify.
        case closeNotify
        case tlsReadFailed(String)
        /// A send failed (negative errno).
        case sendError(Int32)
    }

    enum Event {
        /// `connectAt`: when the relay's backoff ends (0 or past: now).
        case start(now: UInt64, connectAt: UInt64)
        /// The owner's deadline passed. `awaitingSettingsAck`: the H2 machine still waits for
        /// the ACK of our SETTINGS.
        case deadline(now: UInt64, awaitingSettingsAck: Bool)
        /// The socket could not be made (the owner's answer to `.connect`).
        case socketFailed(String)
        case connected(result: Int32)
        /// The owner's answer to `.startTLS`: no TLS context for relays, or the engine could not
        /// be made.
        case tlsContextMissing
        case tlsSetUpFailed(String)
        case handshake(Handshake, now: UInt64)
        case transportEnded(TransportEnd)
        /// The H2 machine failed (a connection error either way).
        case h2Failed(String)
        case pingAcknowledged
        case goawayReceived
        /// A stream could not open (GOAWAY sent or received, stream ids used up).
        case cannotOpen
        case shutdownRequested
        /// Nothing on the connection any more: no stream open or waiting, no send in flight.
        case streamsEnded
    }

    enum Action: Equatable {
        /// The one deadline (MonotonicClock nanoseconds).
        case setDeadline(UInt64)
        /// A TCP socket to the relay, connected with io_uring (answer `.connected`, or
        /// `.socketFailed`).
        case connect
        /// Make the TLS engine (client, ALPN h2) and run the handshake (answer `.handshake`, or
        /// `.tlsContextMissing` / `.tlsSetUpFailed`).
        case startTLS
        /// The handshake needs the relay: send what the engine produced, receive more.
        case exchangeHandshake
        /// HTTP/2 may run: `relay up:`, the worker's backoff reset, the preface and SETTINGS,
        /// the waiting streams opened, reading.
        case up
        case sendPing
        /// No new stream goes on this connection: the worker's next tunnel makes a new one.
        case retire
        /// Worker shutdown: GOAWAY to the relay.
        case sendGoaway
        /// The connection is lost: `relay down:`, the relay backs off, the streams on it fail,
        /// those waiting go to the next connection; then the handle retires.
        case lost(String, wasUp: Bool)
        /// Drained: `relay closed:`; then the handle retires.
        case close
    }

    struct Settings {
        /// The relay's address as reasons show it.
        var relay: String
        var fingerprint: RelayFingerprint
        var connectTimeout: Double
        var keepalive: Double
        var deadAfter: Int
    }

    var state = State.created
    let settings: Settings

    init(settings: Settings) {
        self.settings = settings
    }

    /// HTTP/2 runs (up, or draining after being up): bytes flow both ways.
    var isUp: Bool {
        switch state {
        case .up, .draining(.some): true
        default: false
        }
    }

    /// No new stream may go on this connection.
    var isRetiring: Bool {
        switch state {
        case .draining, .closed: true
        default: false
        }
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var inHandshake: Bool {
        if case .handshake = state { return true }
        return false
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch event {
        case .start(let now, let connectAt):
            guard case .created = state else { return }
            if connectAt > now {
                state = .waiting(connectAt: connectAt)
                actions.append(.setDeadline(connectAt))
            } else {
                connect(now: now, &actions)
            }
        case .deadline(let now, let awaitingSettingsAck):
            deadline(now: now, awaitingSettingsAck: awaitingSettingsAck, &actions)
        case .socketFailed(let error):
            guard case .connecting = state else { return }
            lose("relay \(settings.relay): \(error)", &actions)
        case .connected(let result):
            guard case .connecting(let deadline) = state else { return }
            guard result == 0 else {
                lose("relay \(settings.relay): connect: \(SystemError.message(of: -result))", &actions)
                return
            }
            state = .handshake(deadline: deadline)
            actions.append(.startTLS)
        case .tlsContextMissing:
            guard case .handshake = state else { return }
            lose("relay TLS context missing", &actions)
        case .tlsSetUpFailed(let why):
            guard case .handshake = state else { return }
            lose("relay TLS set-up: \(why)", &actions)
        case .handshake(let outcome, let now):
            guard case .handshake = state else { return }
            handshake(outcome, now: now, &actions)
        case .transportEnded(let end):
            transportEnded(end, &actions)
        case .h2Failed(let error):
            lose("relay \(settings.relay): HTTP/2 \(error)", &actions)
        case .pingAcknowledged:
            switch state {
            case .up: state = .up(Keepalive())
            case .draining(.some): state = .draining(Keepalive())
            default: break
            }
        case .goawayReceived, .cannotOpen:
            guard case .up(let k) = state else { return }
            state = .draining(k)
            actions.append(.retire)
        case .shutdownRequested:
            shutdown(&actions)
        case .streamsEnded:
            guard case .draining = state else { return }
            state = .closed(.closed)
            actions.append(.close)
        }
    }
}
