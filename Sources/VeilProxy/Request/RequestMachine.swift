import VeilResolver
import VeilWire
#if canImport(Glibc)
import Glibc
#endif
import VeilRuntime

/// The first part of every connection, until it is answered: read the request head, admit it
/// (the relay's gate, or the proxy's users), check the rules, resolve, connect (or have the
/// relay tunnel carry it), then answer. A tunnel's `200` hands the connection over to a transfer
/// (pass-through or intercept), a plain-http request goes to the origin, an error answer is
/// sent and the connection lingers until the client has read it. The owner (`Connection`)
/// performs the actions and feeds back what happened; it decides nothing.
///
/// The request's bytes are read into the connection's request buffer (given with `.start`, held
/// while reading): the machine asks for `.receive(offset:count:)`, is told how many arrived, and
/// parses what the buffer holds. A refused connection has no request buffer.
struct RequestMachine {
    /// What the answer leads to once it is out.
    enum AfterAnswer: Equatable {
        /// The tunnel is up: hand the connection over.
        case transfer(Transfer)
        /// Linger, then close with this reason.
        case close(CloseReason)
    }

    /// How the connection goes on after a `200`.
    enum Transfer: Equatable {
        case passthrough
        case intercept
    }

    struct Connecting {
        let request: ConnectRequest
        let addresses: [SocketAddress]
        var index = 0
        var lastError = ""
        var deadline: UInt64
    }

    struct Answer {
        let length: Int
        var sent = 0
        let then: AfterAnswer
    }

    /// The request buffer being read into.
    struct Head {
        let buffer: UnsafeMutableRawPointer
        /// How much of it a request head may fill.
        let limit: Int
        let deadline: UInt64
    }

    enum State {
        /// Reading the request head (`filled` bytes of the buffer hold it so far).
        case reading(Head)
        /// A slow credentials check runs off the ring.
        case authenticating(ConnectRequest, deadline: UInt64)
        /// The resolver was asked at `since`.
        case resolving(ConnectRequest, since: UInt64, deadline: UInt64)
        /// Connecting to `addresses[index]`.
        case connecting(Connecting)
        /// The connect timed out and is being cancelled: its completion decides (504 unless it
        /// made it after all).
        case cancellingConnect(Connecting)
        /// The relay tunnel is being set up (it keeps its own deadline).
        case tunnelling(ConnectRequest)
        case answering(Answer, deadline: UInt64)
        /// The error answer is out and the write side shut: read what the client still sends
        /// until it closes (so the kernel does not reset the connection before the client read
        /// the answer), at most until `deadline`.
        case lingering(CloseReason, deadline: UInt64)
        /// Handed over to a transfer, or to the plain-http forwarding.
        case handedOver
        case closed
    }

    enum Event {
        /// The connection was accepted: read its request into `buffer` (`capacity` bytes).
        case start(buffer: UnsafeMutableRawPointer, capacity: Int, now: UInt64)
        /// The connection was refused (over the limit, shutting down: then with the grace
        /// period's end): answered 503 at once, nothing read.
        case refused(CloseReason, graceDeadline: UInt64?, now: UInt64)
        case received(Int32, now: UInt64)
        case authChecked(AuthOutcome, now: UInt64)
        /// The resolver answered (`immediately`: from its map or cache, in the same call).
        case resolved(ResolveOutcome, immediately: Bool, now: UInt64)
        /// The ECH config lookup asked with `.lookupECH` answered.
        case echLooked(ECHLookup, now: UInt64)
        /// The upstream socket could not be made (`error`), or the connect completed.
        case connectFailedToStart(String, now: UInt64)
        case connected(Int32, now: UInt64)
        /// The relay answered 200; `path` is how the TLS to the relay moves, `note` why not kTLS.
        case tunnelEstablished(path: ConnectionSummary.DataPath, note: String?, now: UInt64)
        case tunnelFailed(HTTPStatusResponse.Status, CloseReason, now: UInt64)
        case answerSent(Int32, now: UInt64)
        case lingerReceived(Int32)
        case deadline(now: UInt64)
        /// Shutdown began: what is still being set up is answered 503.
        case shutdown(graceDeadline: UInt64, now: UInt64)
    }

    enum Action {
        case receive(offset: Int, count: Int)
        /// Check `credentials` off the ring; `.authChecked` follows through the mailbox.
        case verifyCredentials(BasicCredentials, key: [UInt8])
        /// Ask the resolver; `.resolved` follows (at once or through the mailbox).
        case resolve(HostPort)
        /// `veil relay`, RESOLVE with `Veil-Want: https`: addresses, then the name's HTTPS
        /// records; one `.resolved` follows, its `https` set.
        case resolveWithHTTPS(HostPort)
        /// An intercepted CONNECT with ECH enabled: the target's ECH config (`--ech-config`, else
        /// its HTTPS record), asked beside the addresses; `.echLooked` follows (at once or
        /// through the mailbox).
        case lookupECH(HostPort)
        /// The same for a target the relay tunnel carries (`route tunnel`): the HTTPS record is
        /// asked through the relay (RESOLVE with `Veil-Want: https`), not on the local network.
        case lookupECHThroughRelay(HostPort)
        /// Make a socket for `address` and connect it; `.connected` (or
        /// `.connectFailedToStart`) follows.
        case connect(SocketAddress)
        /// Cancel the connect in flight; its completion follows (ECANCELED).
        case cancelConnect
        /// Close the upstream socket of a failed connect attempt.
        case closeUpstream
        /// Have a relay tunnel carry the upstream side (`.tunnelEstablished` or `.tunnelFailed`
        /// follows, maybe before this action returns).
        case startTunnel(HostPort, via: RelayEndpoint)
        case stopTunnel
        /// Keep a stable copy of the answer's `bytes` until it is out.
        case stageAnswer([UInt8])
        /// Send the staged answer from `offset` on; `.answerSent` follows.
        case sendAnswer(offset: Int)
        case shutdownWrite
        case lingerReceive
        case setDeadline(UInt64)
        /// Count a resolution in the metrics.
        case countResolution(cached: Bool, seconds: Double?)
        /// The client's end is Veil's own complete answer (the HTTPS listener passes it on as
        /// an authenticated end).
        case answerComplete
        /// The tunnel is up and answered: go on with `transfer`; bytes the client sent after
        /// its request head start at `pipelinedFrom` in the request buffer (up to `filledTo`).
        case handOver(Transfer, request: ConnectRequest, pipelinedFrom: Int, filledTo: Int, ech: UpstreamECH)
        /// Forward the plain-http request (the upstream connection is up).
        case forward(ForwardRequest, request: ConnectRequest, pipelinedFrom: Int, filledTo: Int)
        /// The relay's per-client slot taken at the gate (released when the connection ends).
        case holdRelaySlot(String)
        case close(CloseReason)
    }

    let policy: RequestPolicy
    /// The connection came through the HTTPS listener (its client leg is inside that TLS).
    let viaListener: Bool
    var state: State = .closed
    /// How many bytes of the request buffer the head and what followed it fill.
    private(set) var filled = 0
    /// The parsed request, once there is one (for its HTTP version in answers).
    private(set) var request: ConnectRequest?
    /// The plain-http request to forward, once admitted.
    var forwardRequest: ForwardRequest?
    /// When the shutdown's grace period ends, once shutdown began.
    var graceDeadline: UInt64?
    /// The ECH config lookup of an intercepted CONNECT: not asked, under way, or answered.
    enum ECHWait { case notAsked, pending, answered(ECHLookup) }
    var echWait = ECHWait.notAsked
    /// The addresses, held while the ECH lookup is still under way.
    var heldAddresses: ResolveOutcome?
    /// Under `--ech auto`, when the held addresses stop waiting for a late ECH lookup (0: none).
    var echGraceDeadline: UInt64 = 0
    /// `route tunnel` with an ECH lookup: when it was asked; the tunnel is up (`auto`: it waits
    /// at most `echGrace` for the lookup); the tunnel is not started before the lookup answers
    /// (`require`: nothing is connected for a target without a usable config).
    var echAskedAt: UInt64 = 0
    var tunnelUp = false
    var tunnelDeferred = false
    /// What the upstream leg does about ECH (decided before the connect).
    var upstreamECH = UpstreamECH.off

    init(policy: RequestPolicy, viaListener: Bool) {
        self.policy = policy
        self.viaListener = viaListener
    }

    /// The reason the connection closes with once its error answer is out (nil while no error
    /// answer is under way): an outer session that fails meanwhile keeps it.
    var pendingClose: CloseReason? {
        switch state {
        case .answering(let a, _):
            if case .close(let reason) = a.then { return reason }
            return nil
        case .lingering(let reason, _): return reason
        default: return nil
        }
    }

    var config: ProxyConfiguration { policy.config }

    // MARK: Events

    mutating func handle(_ event: Event, summary: inout ConnectionSummary, _ actions: inout [Action]) {
        switch event {
        case .start(let buffer, let capacity, let now):
            let head = Head(buffer: buffer, limit: min(config.maxHeaderBytes, capacity),
                            deadline: now + config.headerTimeout.nanoseconds)
            state = .reading(head)
            setDeadline(head.deadline, &actions)
            receiveMore(head, &actions)
        case .refused(let reason, let grace, let now):
            graceDeadline = grace
            answer(.serviceUnavailable, reason, now: now, &actions)
        case .received(let result, let now):
            received(result, now: now, summary: &summary, &actions)
        case .authChecked(let outcome, let now):
            guard case .authenticating(let request, _) = state, let auth = policy.authenticator else { return }
            let decision = auth.record(outcome.credentials, key: outcome.key, valid: outcome.valid,
                                       client: RelayGate.address(of: summary.client), now: Double(now) / 1e9,
                                       remembered: policy.authCache)
            authDecided(decision, request, now: now, summary: &summary, &actions)
        case .resolved(let outcome, let immediately, let now):
            guard case .resolving(let request, let since, _) = state else { return }
            if immediately {
                if case .success(let a) = outcome, a.source.hasSuffix("(cache)") {
                    actions.append(.countResolution(cached: true, seconds: nil))
                }
            } else {
                actions.append(.countResolution(cached: false, seconds: Double(now &- since) / 1e9))
            }
            resolved(outcome, request, now: now, &actions)
        case .echLooked(let lookup, let now):
            guard case .pending = echWait else { return }
            switch state {
            case .resolving(let request, _, _):
                echWait = .answered(lookup)
                if let outcome = heldAddresses {
                    heldAddresses = nil
                    resolved(outcome, request, now: now, &actions)
                }
            case .tunnelling(let request):
                echWait = .answered(lookup)
                if tunnelDeferred {
                    tunnelDeferred = false
                    guard decideTunnelECH(request, now: now, &actions), let relay = config.relay else { return }
                    setDeadline(0, &actions)
                    actions.append(.startTunnel(request.target, via: relay))
                } else if tunnelUp {
                    tunnelReady(request, now: now, &actions)
                }
            default:
                return
            }
        case .connectFailedToStart(let error, let now):
            guard case .connecting(var c) = state else { return }
            c.lastError = error
            c.index += 1
            connectNext(c, now: now, &actions)
        case .connected(let result, let now):
            connected(result, now: now, summary: &summary, &actions)
        case .tunnelEstablished(let path, let note, let now):
            guard case .tunnelling(let request) = state else { return }
            summary.tunnelPath = path
            summary.tunnelNote = note
            if case .pending = echWait {
                // `auto`: the relay accepted the secret and reached the target; now its ECH
                // config is asked through the relay (a wrong secret is refused once, not twice),
                // and the 200 waits at most `echGrace` for it.
                tunnelUp = true
                echGraceDeadline = now + RequestMachine.echGrace(config).nanoseconds
                setDeadline(echGraceDeadline, &actions)
                actions.append(.lookupECHThroughRelay(request.target))
                return
            }
            tunnelReady(request, now: now, &actions)
        case .tunnelFailed(let status, let reason, let now):
            guard case .tunnelling = state else { return }
            answer(status, reason, now: now, &actions)
        case .answerSent(let result, let now):
            answerSent(result, now: now, summary: &summary, &actions)
        case .lingerReceived(let result):
            guard case .lingering(let reason, _) = state else { return }
            if result > 0 || result == -EAGAIN || result == -EINTR {
                actions.append(.lingerReceive)
            } else {
                close(reason, &actions)
            }
        case .deadline(let now):
            deadlinePassed(now: now, summary: &summary, &actions)
        case .shutdown(let grace, let now):
            graceDeadline = grace
            switch state {
            case .reading, .authenticating, .resolving, .connecting, .cancellingConnect, .tunnelling:
                switch state {
                case .connecting, .cancellingConnect: actions.append(.cancelConnect)
                default: break
                }
                if case .tunnelling = state { actions.append(.stopTunnel) }
                answer(.serviceUnavailable, CloseReason(.shutdown, "proxy shutting down"), now: now, &actions)
            case .answering(_, let d), .lingering(_, let d):
                setDeadline(d, &actions)
            case .handedOver, .closed:
                break
            }
        }
    }

    // MARK: Reading the request

    func receiveMore(_ head: Head, _ actions: inout [Action]) {
        actions.append(.receive(offset: filled, count: head.limit - filled))
    }

    mutating func received(_ result: Int32, now: UInt64, summary: inout ConnectionSummary,
                           _ actions: inout [Action]) {
        guard case .reading(let head) = state else { return }
        if result == -EAGAIN || result == -EINTR {
            receiveMore(head, &actions)
            return
        }
        if result < 0 {
            close(CloseReason(.clientGone, "client: \(SystemError.message(of: -result)) before sending a request"), &actions)
            return
        }
        if result == 0 {
            close(CloseReason(.clientGone, filled == 0 ? "client closed without sending a request"
                                                       : "client closed in the middle of its request (\(filled) bytes)"), &actions)
            return
        }
        filled += Int(result)
        switch policy.parser.parse(UnsafeRawBufferPointer(start: head.buffer, count: filled)) {
        case .needMore:
            receiveMore(head, &actions)
        case .reject(let status, let reason):
            let kind: CloseReason.Kind
            switch status {
            case .methodNotAllowed: kind = .methodNotAllowed
            case .requestHeaderFieldsTooLarge: kind = .headerTooLarge
            default: kind = .badRequest
            }
            answer(status, CloseReason(kind, reason), now: now, &actions)
        case .request(let req):
            accept(req, now: now, summary: &summary, &actions)
        }
    }

    mutating func accept(_ req: ConnectRequest, now: UInt64, summary: inout ConnectionSummary,
                         _ actions: inout [Action]) {
        request = req
        summary.target = req.target.description
        if let gate = policy.gate {
            switch gate.admit(req, client: summary.client, certificate: summary.front?.clientCertificate, now: Double(now) / 1e9) {
            case .admitted(let slot): actions.append(.holdRelaySlot(slot))
            case .refused(let status, let reason):
                answer(status, reason, now: now, &actions)
                return
            }
            if req.method == "RESOLVE" {
                resolve(req, now: now, &actions)
                return
            }
        } else if let auth = policy.authenticator {
            let decision = auth.decide(req.header("Proxy-Authorization"), client: RelayGate.address(of: summary.client),
                                       now: Double(now) / 1e9, remembered: policy.authCache)
            authDecided(decision, req, now: now, summary: &summary, &actions)
            return
        }
        admitted(req, now: now, summary: &summary, &actions)
    }

    mutating func authDecided(_ decision: ProxyAuthenticator.Decision, _ req: ConnectRequest, now: UInt64,
                              summary: inout ConnectionSummary, _ actions: inout [Action]) {
        switch decision {
        case .allowed(let user):
            summary.user = user
            admitted(req, now: now, summary: &summary, &actions)
        case .missing:
            answer(.proxyAuthenticationRequired, CloseReason(.authFailed,
                "proxy credentials required (Proxy-Authorization: Basic; curl --proxy-user USER:PASSWORD)"), now: now, &actions)
        case .wrong(let reason):
            answer(.proxyAuthenticationRequired, CloseReason(.authFailed, reason), now: now, &actions)
        case .blocked(let reason):
            answer(.tooManyRequests, CloseReason(.rateLimited, reason), now: now, &actions)
        case .check(let credentials, let key):
            guard case .reading(let head) = state else { return }
            state = .authenticating(req, deadline: head.deadline)
            actions.append(.verifyCredentials(credentials, key: key))
        }
    }

    /// Past the relay's gate or the proxy's users: the rules, then the route.
    mutating func admitted(_ req: ConnectRequest, now: UInt64, summary: inout ConnectionSummary,
                           _ actions: inout [Action]) {
        if case .denied(let reason) = config.rules.check(req.target) {
            answer(.forbidden, CloseReason(.forbidden, reason), now: now, &actions)
            return
        }
        if req.isForward {
            do throws(ForwardRequest.Refusal) {
                forwardRequest = try ForwardRequest(req)
            } catch {
                answer(.badRequest, CloseReason(.badRequest, error.reason), now: now, &actions)
                return
            }
        } else if config.ktls == .require, config.intercepts(req.target) {
            if let kernel = policy.kernelTLS, !kernel.isAvailable {
                answer(.serviceUnavailable, CloseReason(.ktlsUnavailable, "--ktls require: kernel TLS is \(kernel)"),
                       now: now, &actions)
                return
            }
            if viaListener {
                answer(.serviceUnavailable, CloseReason(.ktlsUnavailable,
                    "--ktls require: an intercepted connection through the HTTPS listener keeps its inner TLS in userspace (the socket's kTLS carries the outer session)"),
                       now: now, &actions)
                return
            }
        }
        if let relay = config.relay, config.route(for: req.target) == .tunnel {
            state = .tunnelling(req)
            summary.route = .tunnel
            summary.relay = relay.address.description
            if !req.isForward, config.intercepts(req.target), config.echMode(for: req.target) != .off {
                // The relay resolves a tunnelled target, so its ECH config is asked through the
                // relay too (never on the local network). `auto` asks once the tunnel is up;
                // `require` asks first and starts the tunnel only with a usable config.
                echWait = .pending
                if config.echMode(for: req.target) == .require {
                    echAskedAt = now
                    actions.append(.lookupECHThroughRelay(req.target))
                    tunnelDeferred = true
                    setDeadline(now + config.connectTimeout.nanoseconds, &actions)
                    return
                }
            }
            setDeadline(0, &actions)  // the tunnel keeps its own deadline (connect, TLS, the relay's answer)
            actions.append(.startTunnel(req.target, via: relay))
            return
        }
        resolve(req, now: now, &actions)
    }

    // MARK: Deadlines and closing

    mutating func deadlinePassed(now: UInt64, summary: inout ConnectionSummary, _ actions: inout [Action]) {
        if let grace = graceDeadline, now >= grace {
            close(CloseReason(.shutdown, "closed at shutdown: grace period of \(RequestMachine.format(config.grace)) ended"), &actions)
            return
        }
        switch state {
        case .reading(let head):
            guard now >= head.deadline else { return setDeadline(head.deadline, &actions) }
            answer(.requestTimeout, CloseReason(.headerTimeout,
                "no complete CONNECT request within \(RequestMachine.format(config.headerTimeout))"), now: now, &actions)
        case .authenticating(_, let d):
            guard now >= d else { return setDeadline(d, &actions) }
            answer(.serviceUnavailable, CloseReason(.error,
                "proxy credentials could not be checked within \(RequestMachine.format(config.headerTimeout))"), now: now, &actions)
        case .resolving(let req, _, let d):
            if let held = heldAddresses, case .pending = echWait {
                if echGraceDeadline != 0, now >= echGraceDeadline {
                    // `auto`: the addresses are in, the HTTPS answer is late: GREASE.
                    let waited = RequestMachine.format(RequestMachine.echGrace(config))
                    let why = "HTTPS record lookup late: no answer \(waited) after the addresses"
                    summary.echNote = why
                    echWait = .answered(.none(why))
                    heldAddresses = nil
                    resolved(held, req, now: now, &actions)
                    return
                }
                guard now >= d else {
                    return setDeadline(echGraceDeadline == 0 ? d : min(d, echGraceDeadline), &actions)
                }
                answer(.gatewayTimeout, echLookupTimedOut(req), now: now, &actions)
                return
            }
            guard now >= d else { return setDeadline(d, &actions) }
            answer(.gatewayTimeout, CloseReason(.resolveFailed,
                "resolver \(policy.resolverName) did not answer within \(RequestMachine.format(config.connectTimeout))"), now: now, &actions)
        case .connecting(let c):
            guard now >= c.deadline else { return setDeadline(c.deadline, &actions) }
            state = .cancellingConnect(c)
            actions.append(.cancelConnect)
        case .answering(let a, let d):
            guard now >= d else { return setDeadline(d, &actions) }
            switch a.then {
            case .close(let reason): close(reason, &actions)
            case .transfer: close(CloseReason(.clientGone, "client did not read the response"), &actions)
            }
        case .lingering(let reason, let d):
            guard now >= d else { return setDeadline(d, &actions) }
            close(reason, &actions)
        case .tunnelling(let req):
            guard case .pending = echWait else { break }
            if tunnelUp, echGraceDeadline != 0 {
                guard now >= echGraceDeadline else { return setDeadline(echGraceDeadline, &actions) }
                let waited = RequestMachine.format(RequestMachine.echGrace(config))
                let why = "HTTPS record lookup through the relay late: no answer \(waited) after the tunnel was up"
                summary.echNote = why
                echWait = .answered(.none(why))
                tunnelReady(req, now: now, &actions)
            } else if tunnelDeferred {
                let d = echAskedAt + config.connectTimeout.nanoseconds
                guard now >= d else { return setDeadline(d, &actions) }
                answer(.gatewayTimeout, echLookupTimedOut(req), now: now, &actions)
            }
        case .cancellingConnect, .handedOver, .closed:
            break
        }
    }

    mutating func close(_ reason: CloseReason, _ actions: inout [Action]) {
        state = .closed
        actions.append(.close(reason))
    }

    /// The earlier of `deadline` and the grace period's end (0: none).
    func setDeadline(_ deadline: UInt64, _ actions: inout [Action]) {
        var d = deadline
        if let grace = graceDeadline, d == 0 || grace < d { d = grace }
        actions.append(.setDeadline(d))
    }

    /// How long, under `--ech auto`, the addresses wait for a late HTTPS record once they are in:
    /// `ech-wait` (500 ms by default: a DoH/DoT server that answered A/AAAA promptly answers
    /// type 65 on the same channel within a round trip; a longer wait only delays every
    /// connection to a name whose resolver drops or stalls HTTPS queries), at most a quarter of
    /// the connect timeout so that a short one keeps most of its time for the connect.
    static func echGrace(_ config: ProxyConfiguration) -> Double {
        min(config.echWait, config.connectTimeout / 4)
    }

    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
