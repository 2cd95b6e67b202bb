import VeilResolver
import VeilWire
import VeilRuntime

/// RequestMachine: resolving the target (and its ECH config), connecting, or having the relay
/// tunnel carry it.
extension RequestMachine {
    /// Addresses for the target: a literal at once, a name through the resolver (maybe later).
    mutating func resolve(_ req: ConnectRequest, now: UInt64, _ actions: inout [Action]) {
        if req.method == "CONNECT", forwardRequest == nil, config.intercepts(req.target),
           config.echMode(for: req.target) != .off {
            echWait = .pending
            actions.append(.lookupECH(req.target))
        }
        switch req.target.kind {
        case .ipv4, .ipv6:
            guard let address = SocketAddress(ip: req.target.host, port: req.target.port) else {
                answer(.badRequest, CloseReason(.badRequest, "bad address \(req.target.host)"), now: now, &actions)
                return
            }
            resolved(.success(ResolvedAddresses(addresses: [address], source: "literal")), req, now: now, &actions)
            return
        case .name:
            break
        }
        let deadline = now + config.connectTimeout.nanoseconds
        state = .resolving(req, since: now, deadline: deadline)
        setDeadline(deadline, &actions)
        if req.method == "RESOLVE" && RelayResolution.wantsHTTPS(req.header(RelayResolution.wantHTTPSHeader)) {
            actions.append(.resolveWithHTTPS(req.target))
        } else {
            actions.append(.resolve(req.target))
        }
    }

    mutating func resolved(_ outcome: ResolveOutcome, _ req: ConnectRequest, now: UInt64,
                           _ actions: inout [Action]) {
        if req.method == "RESOLVE" {
            answerResolution(outcome, req, now: now, &actions)
            return
        }
        if case .pending = echWait, case .success = outcome {
            // The addresses wait for the ECH lookup (a literal target gets here at once).
            heldAddresses = outcome
            var deadline = now + config.connectTimeout.nanoseconds
            if case .resolving(_, _, let d) = state { deadline = d } else {
                state = .resolving(req, since: now, deadline: deadline)
            }
            // Under `auto` a late HTTPS answer must not hold the connection: the addresses
            // wait for it at most `echGrace`, then the leg goes on with GREASE. `require` waits
            // for it up to the connect timeout.
            if config.echMode(for: req.target) != .require {
                echGraceDeadline = now + RequestMachine.echGrace(config).nanoseconds
                deadline = min(deadline, echGraceDeadline)
            }
            setDeadline(deadline, &actions)
            return
        }
        switch outcome {
        case .failure(let reason):
            answer(.badGateway, CloseReason(.resolveFailed, reason), now: now, &actions)
        case .success(let answer):
            if case .answered(let lookup) = echWait {
                switch UpstreamECH.decide(mode: config.echMode(for: req.target), lookup: lookup, host: req.target.host) {
                case .success(let ech): upstreamECH = ech
                case .failure(let refusal):
                    self.answer(.badGateway, CloseReason(.echRequired, refusal.reason), now: now, &actions)
                    return
                }
            }
            // The rules also apply to where a name leads: `deny 127.0.0.0/8` must stop a name
            // that resolves to loopback, not only the literal address.
            if req.target.kind == .name {
                for a in answer.addresses {
                    guard let ip = try? HostPort(host: a.ipString, port: req.target.port) else { continue }
                    if case .denied(let reason) = config.rules.check(req.target, resolvedTo: ip) {
                        self.answer(.forbidden, CloseReason(.forbidden, reason), now: now, &actions)
                        return
                    }
                }
            }
            let c = Connecting(request: req, addresses: answer.addresses, deadline: 0)
            connectNext(c, now: now, &actions)
        }
    }

    /// `route tunnel`: the ECH decision once the lookup answered; false when `require` refused
    /// (the 502 is under way, the tunnel stopped).
    mutating func decideTunnelECH(_ req: ConnectRequest, now: UInt64, _ actions: inout [Action]) -> Bool {
        guard case .answered(let lookup) = echWait else { return true }
        switch UpstreamECH.decide(mode: config.echMode(for: req.target), lookup: lookup, host: req.target.host) {
        case .success(let ech):
            upstreamECH = ech
            return true
        case .failure(let refusal):
            actions.append(.stopTunnel)
            answer(.badGateway, CloseReason(.echRequired, refusal.reason), now: now, &actions)
            return false
        }
    }

    /// The relay tunnel is up and the ECH lookup (if any) answered or was given up on.
    mutating func tunnelReady(_ req: ConnectRequest, now: UInt64, _ actions: inout [Action]) {
        guard decideTunnelECH(req, now: now, &actions) else { return }
        upstreamReady(req, now: now, &actions)
    }

    /// `require`: the ECH lookup did not answer within the connect timeout.
    func echLookupTimedOut(_ req: ConnectRequest) -> CloseReason {
        CloseReason(.echRequired,
            "--ech require: the ECH config lookup for \(req.target.host) (its HTTPS record, resolver \(summaryResolver(req))) did not answer within \(RequestMachine.format(config.connectTimeout)); not connected, so its name was not sent in clear. Check the resolver, pass a config with --ech-config \(req.target.host)=BASE64|@FILE, or allow this host without ECH (--ech-rule \(req.target.host)=auto)")
    }

    func summaryResolver(_ req: ConnectRequest) -> String {
        if let relay = config.relay, config.route(for: req.target) == .tunnel { return "relay \(relay.address)" }
        return policy.resolverName
    }

    mutating func connectNext(_ attempt: Connecting, now: UInt64, _ actions: inout [Action]) {
        var c = attempt
        guard c.index < c.addresses.count else {
            answer(.badGateway, CloseReason(.unreachable, c.lastError.isEmpty ? "no address to connect to" : c.lastError),
                   now: now, &actions)
            return
        }
        c.deadline = now + config.connectTimeout.nanoseconds
        state = .connecting(c)
        setDeadline(c.deadline, &actions)
        actions.append(.connect(c.addresses[c.index]))
    }

    mutating func connected(_ result: Int32, now: UInt64, summary: inout ConnectionSummary,
                            _ actions: inout [Action]) {
        var c: Connecting
        let timedOut: Bool
        switch state {
        case .connecting(let attempt): c = attempt; timedOut = false
        case .cancellingConnect(let attempt): c = attempt; timedOut = true
        default: return
        }
        guard c.index < c.addresses.count else { return }
        let addr = c.addresses[c.index]
        if result == 0 {
            summary.upstreamAddress = addr.description
            upstreamReady(c.request, now: now, &actions)
            return
        }
        actions.append(.closeUpstream)
        if timedOut {
            answer(.gatewayTimeout, CloseReason(.connectTimeout,
                "connect to \(addr) timed out after \(RequestMachine.format(config.connectTimeout))"), now: now, &actions)
            return
        }
        c.lastError = "connect to \(addr): \(SystemError.message(of: -result))"
        c.index += 1
        connectNext(c, now: now, &actions)
    }

    /// The upstream connection is up (directly or through the relay): a tunnel is answered
    /// 200, a plain-http request is forwarded.
    mutating func upstreamReady(_ req: ConnectRequest, now: UInt64, _ actions: inout [Action]) {
        if let forwardRequest {
            state = .handedOver
            actions.append(.forward(forwardRequest, request: req, pipelinedFrom: req.headerLength, filledTo: filled))
            return
        }
        let transfer: Transfer = config.intercepts(req.target) ? .intercept : .passthrough
        answer(.ok, nil, then: .transfer(transfer), now: now, &actions)
    }
}
