import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// The request phase's driver: completions, deadlines, resolver answers and credential checks
/// become `RequestMachine` events; its actions are performed here with the loop's operations.
/// The machine decides; this only does what it says.
extension Connection {
    /// Feeds `event` to the request machine and performs its actions. An action that has an
    /// immediate outcome (a resolver's cached answer, a socket that cannot be made) yields the
    /// next event, handled once the current actions are done.
    func requestEvent(_ event: RequestMachine.Event) {
        guard case .request(let held) = phase else { return }
        var actions = actionLists.takeRequest()
        var next: RequestMachine.Event? = event
        // An action list may hold two lookups with immediate answers (addresses and ECH config).
        var second: RequestMachine.Event?
        while let e = next ?? second {
            if next != nil { next = nil } else { second = nil }
            ActionLists.empty(&actions)
            held.machine.handle(e, summary: &summary, &actions)
            var i = 0
            while i < actions.count {
                // Moved out, not copied (see Connection.transferEvent).
                var action = RequestMachine.Action.answerComplete
                swap(&action, &actions[i])
                i += 1
                if let follow = perform(action) {
                    if next == nil { next = follow } else { second = follow }
                }
            }
        }
        actionLists.giveBack(request: &actions)
    }

    /// A completion while the request phase runs.
    func requestCompleted(_ op: Op, _ result: Int32) {
        switch op {
        case .clientRecv: requestEvent(.received(result, now: MonotonicClock.now()))
        case .clientSend: requestEvent(.answerSent(result, now: MonotonicClock.now()))
        case .connect: requestEvent(.connected(result, now: MonotonicClock.now()))
        case .lingerRecv: requestEvent(.lingerReceived(result))
        default: break
        }
    }

    private func perform(_ action: RequestMachine.Action) -> RequestMachine.Event? {
        switch action {
        case .receive(let offset, let count):
            guard let requestBuffer else { return nil }
            loop.recv(handle, op: Op.clientRecv.rawValue, fd: clientFD, into: requestBuffer + offset, count: count)
        case .verifyCredentials(let credentials, let key):
            let remote = loop.remote
            let h = handle
            worker.requestPolicy.authenticator?.verify(credentials) { valid in
                remote.deliver(AuthOutcome(credentials: credentials, key: key, valid: valid), to: h)
            }
        case .resolve(let target):
            let remote = loop.remote
            let h = handle
            if let outcome = worker.shared.resolver.resolve(host: target.host, port: target.port,
                                                            completion: { remote.deliver($0, to: h) }) {
                return .resolved(outcome, immediately: true, now: MonotonicClock.now())
            }
        case .resolveWithHTTPS(let target):
            let remote = loop.remote
            let h = handle
            if let outcome = worker.shared.resolver.resolveWithHTTPS(host: target.host, port: target.port,
                                                                     completion: { remote.deliver($0, to: h) }) {
                return .resolved(outcome, immediately: true, now: MonotonicClock.now())
            }
        case .lookupECH(let target):
            if let event = lookUpECH(target, throughRelay: false) { return event }
        case .lookupECHThroughRelay(let target):
            if let event = lookUpECH(target, throughRelay: true) { return event }
        case .connect(let address):
            upstreamSocketAddress = address
            do {
                upstreamFD = try Socket.makeTCP(family: address.family)
            } catch {
                return .connectFailedToStart("\(error)", now: MonotonicClock.now())
            }
            Socket.setNoDelay(upstreamFD)
            let slot = connectSlot ?? AddressSlot()
            connectSlot = slot
            loop.connect(handle, op: Op.connect.rawValue, fd: upstreamFD, to: address, slot: slot)
        case .cancelConnect:
            loop.cancelAll(handle, op: Op.cancel.rawValue, fd: upstreamFD)
        case .closeUpstream:
            Socket.close(upstreamFD)
            upstreamFD = -1
        case .startTunnel(let target, _):
            // The worker picks the relay (the machine names the first; with several, the next up).
            guard let relay = worker.relayChoice.pick(now: MonotonicClock.now()) else {
                return .tunnelFailed(.badGateway, CloseReason(.error, "tunnel: no relay configured"), now: MonotonicClock.now())
            }
            let pair: (Int32, Int32)
            do { pair = try Socket.pair() } catch {
                return .tunnelFailed(.badGateway, CloseReason(.error, "tunnel: \(error)"), now: MonotonicClock.now())
            }
            upstreamFD = pair.0
            summary.relay = worker.config.relays[relay].address.description
            if worker.config.relayMux == .on {
                relayMuxStream = worker.startMuxTunnel(id: id, fd: pair.1, target: target, relay: relay, connection: self)
                return nil
            }
            relayTunnel = worker.startTunnel(id: id, fd: pair.1, target: target, relay: relay,
                                             tried: RelayChoice.bit(relay), connection: self)
        case .stopTunnel:
            relayTunnel?.connectionFinished()
            relayMuxStream?.connectionFinished()
        case .stageAnswer(let bytes):
            stageResponse(bytes)
        case .sendAnswer(let offset):
            guard let responseBuffer, offset < responseLength else { return nil }
            loop.send(handle, op: Op.clientSend.rawValue, fd: clientFD, from: responseBuffer + offset,
                      count: responseLength - offset)
        case .shutdownWrite:
            loop.shutdownWrite(handle, op: Op.lingerShutdown.rawValue, fd: clientFD)
        case .lingerReceive:
            loop.recv(handle, op: Op.lingerRecv.rawValue, fd: clientFD, into: worker.discard, count: 4096)
        case .setDeadline(let deadline):
            loop.setDeadline(handle, deadline)
        case .countResolution(let cached, let seconds):
            worker.metrics.nameResolved(cached: cached, seconds: seconds)
        case .answerComplete:
            // Veil's own answer, complete: through the HTTPS listener it ends with close_notify.
            clientFront?.bridgeEndAuthenticated = true
        case .handOver(let transfer, let request, let pipelinedFrom, let filledTo, let ech):
            stageResponse([])
            let pipelined = pipelinedFrom..<max(filledTo, pipelinedFrom)
            switch transfer {
            case .intercept: beginIntercept(request, pipelined: pipelined, ech: ech)
            case .passthrough: beginHandshake(request, pipelined: pipelined)
            }
        case .forward(let forwardRequest, _, let pipelinedFrom, let filledTo):
            beginForward(forwardRequest, pipelined: pipelinedFrom..<max(filledTo, pipelinedFrom))
        case .holdRelaySlot(let slot):
            relaySlot = slot
        case .close(let reason):
            finish(reason)
        }
        return nil
    }

    /// A resolver's or a credentials check's answer, through the mailbox.
    func requestMessage(_ message: any Sendable) {
        if let outcome = message as? ResolveOutcome {
            requestEvent(.resolved(outcome, immediately: false, now: MonotonicClock.now()))
        } else if let lookup = message as? ECHLookup {
            requestEvent(.echLooked(lookup, now: MonotonicClock.now()))
        } else if let outcome = message as? AuthOutcome {
            requestEvent(.authChecked(outcome, now: MonotonicClock.now()))
        }
    }

    /// The relay answered 200: the socketpair now leads to the target. `path` is how the TLS
    /// to the relay moves (`ktls` or `userspace`), `note` why not kTLS when it was wanted.
    func tunnelEstablished(path: ConnectionSummary.DataPath, note: String?) {
        requestEvent(.tunnelEstablished(path: path, note: note, now: MonotonicClock.now()))
    }

    /// The tunnel could not be set up; `reason` says why (the relay's own answer when it gave one).
    func tunnelFailed(_ status: HTTPStatusResponse.Status, _ reason: CloseReason) {
        requestEvent(.tunnelFailed(status, reason, now: MonotonicClock.now()))
    }

    /// The reason this connection closes with once the answer or alert under way is out.
    var closingReason: CloseReason? {
        if case .request(let held) = phase { return held.machine.pendingClose }
        return nil
    }

    /// Copies `bytes` into `responseBuffer`, which stays put until the send completes, and
    /// returns it (nil for no bytes).
    @discardableResult
    func stageResponse(_ bytes: [UInt8]) -> UnsafeMutableRawPointer? {
        if let old = responseBuffer { old.deallocate() }
        responseBuffer = nil
        responseLength = 0
        guard !bytes.isEmpty else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(buffer), byteCount: bytes.count) }
        responseBuffer = buffer
        responseLength = bytes.count
        return buffer
    }

    /// The ECH config for `target`: from the resolvers here, or (`throughRelay`) through the
    /// relay; the event at once when the answer is known (explicit, cached, or none), else nil
    /// and the answer is delivered later.
    private func lookUpECH(_ target: HostPort, throughRelay: Bool) -> RequestMachine.Event? {
        guard let chain = worker.shared.resolver as? ResolverChain else {
            return .echLooked(.none("this resolver cannot look up ECH configs"), now: MonotonicClock.now())
        }
        func explicit() -> ECHLookup? { chain.explicitECH(for: target.host).map { ECHLookup.explicit($0) } }
        guard target.kind == .name else {
            return .echLooked(explicit() ?? .none("an IP address has no HTTPS record"), now: MonotonicClock.now())
        }
        let remote = loop.remote
        let h = handle
        let deliver: @Sendable (ECHLookup) -> Void = { remote.deliver($0, to: h) }
        let lookup = throughRelay ? chain.echConfigThroughRelay(for: target.host, port: target.port, completion: deliver)
            : chain.echConfig(for: target.host, port: target.port, completion: deliver)
        return lookup.map { .echLooked($0, now: MonotonicClock.now()) }
    }
}
