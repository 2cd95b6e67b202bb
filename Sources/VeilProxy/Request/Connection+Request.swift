import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The CONNECT front: read and parse the request, check the rules, resolve, connect upstream,
/// and answer with a status line.
extension Connection {
    func startRequest() {
        requestBuffer = worker.recordBuffers.take()
        receiveRequest()
    }

    private func receiveRequest() {
        guard let requestBuffer else { return }
        let limit = min(config.maxHeaderBytes, worker.recordBuffers.bufferSize)
        loop.recv(handle, op: Op.clientRecv.rawValue, fd: clientFD,
                  into: requestBuffer + requestFilled, count: limit - requestFilled)
    }

    func requestReceived(_ result: Int32) {
        if result == -EAGAIN || result == -EINTR { receiveRequest(); return }
        if result < 0 {
            finish(CloseReason(.clientGone, "client: \(SystemError.message(of: -result)) before sending a request"))
            return
        }
        if result == 0 {
            finish(CloseReason(.clientGone, requestFilled == 0
                ? "client closed without sending a request"
                : "client closed in the middle of its request (\(requestFilled) bytes)"))
            return
        }
        requestFilled += Int(result)
        guard let requestBuffer else { return }
        switch worker.shared.parser.parse(UnsafeRawBufferPointer(start: requestBuffer, count: requestFilled)) {
        case .needMore:
            receiveRequest()
        case .reject(let status, let reason):
            let kind: CloseReason.Kind
            switch status {
            case .methodNotAllowed: kind = .methodNotAllowed
            case .requestHeaderFieldsTooLarge: kind = .headerTooLarge
            default: kind = .badRequest
            }
            reply(status, CloseReason(kind, reason))
        case .request(let req):
            accept(req)
        }
    }

    private func accept(_ req: ConnectRequest) {
        request = req
        summary.target = req.target.description
        if let gate = worker.shared.relayGate {
            switch gate.admit(req, client: summary.client, now: Double(MonotonicClock.now()) / 1e9) {
            case .admitted(let slot): relaySlot = slot
            case .refused(let status, let reason): reply(status, reason); return
            }
            if req.method == "RESOLVE" { resolve(req.target); return }  // answered by answerResolve
        } else if let auth = worker.shared.authenticator {
            guard authenticate(req, auth) else { return }
        }
        admitted(req)
    }

    /// `--auth`: true when the request may go on now; otherwise it was answered (407, 429) or a
    /// slow check runs off the ring and `authChecked` continues.
    private func authenticate(_ req: ConnectRequest, _ auth: ProxyAuthenticator) -> Bool {
        let ip = RelayGate.address(of: summary.client)
        let now = Double(MonotonicClock.now()) / 1e9
        return authDecided(auth.decide(req.header("Proxy-Authorization"), client: ip, now: now,
                                       remembered: worker.authCache), auth)
    }

    private func authDecided(_ decision: ProxyAuthenticator.Decision, _ auth: ProxyAuthenticator) -> Bool {
        switch decision {
        case .allowed(let user):
            summary.user = user
            return true
        case .missing:
            reply(.proxyAuthenticationRequired, CloseReason(.authFailed,
                "proxy credentials required (Proxy-Authorization: Basic; curl --proxy-user USER:PASSWORD)"))
        case .wrong(let reason):
            reply(.proxyAuthenticationRequired, CloseReason(.authFailed, reason))
        case .blocked(let reason):
            reply(.tooManyRequests, CloseReason(.rateLimited, reason))
        case .check(let credentials, let key):
            phase = .authenticating
            let remote = loop.remote
            let h = handle
            auth.verify(credentials) { valid in
                remote.deliver(AuthOutcome(credentials: credentials, key: key, valid: valid), to: h)
            }
        }
        return false
    }

    /// A slow credentials check came back.
    func authChecked(_ outcome: AuthOutcome) {
        guard phase == .authenticating, let req = request, let auth = worker.shared.authenticator else { return }
        let ip = RelayGate.address(of: summary.client)
        let now = Double(MonotonicClock.now()) / 1e9
        guard authDecided(auth.record(outcome.credentials, key: outcome.key, valid: outcome.valid, client: ip,
                                      now: now, remembered: worker.authCache), auth) else { return }
        admitted(req)
    }

    /// Past the relay's gate or client authentication: rules, then the route.
    private func admitted(_ req: ConnectRequest) {
        if case .denied(let reason) = config.rules.check(req.target) {
            reply(.forbidden, CloseReason(.forbidden, reason))
            return
        }
        if req.isForward {
            do throws(ForwardRequest.Refusal) {
                forward = ForwardBody(request: try ForwardRequest(req))
            } catch {
                reply(.badRequest, CloseReason(.badRequest, error.reason))
                return
            }
        } else if config.ktls == .require, config.intercepts(req.target),
           let availability = worker.shared.interception?.kernelTLS, !availability.isAvailable {
            reply(.serviceUnavailable, CloseReason(.ktlsUnavailable,
                "--ktls require: kernel TLS is \(availability)"))
            return
        }
        if !req.isForward, config.ktls == .require, config.intercepts(req.target), summary.front != nil {
            reply(.serviceUnavailable, CloseReason(.ktlsUnavailable,
                "--ktls require: an intercepted connection through the HTTPS listener keeps its inner TLS in userspace (the socket's kTLS carries the outer session)"))
            return
        }
        if config.relay != nil, config.route(for: req.target) == .tunnel {
            startTunnel(to: req.target)
            return
        }
        resolve(req.target)
    }

    /// Addresses for `target`: a literal at once, a name through the resolver chain (maybe
    /// later, through the mailbox). Either way `resolved` gets the outcome.
    func resolve(_ target: HostPort) {
        armDeadline(after: config.connectTimeout)
        switch target.kind {
        case .ipv4, .ipv6:
            guard let addr = SocketAddress(ip: target.host, port: target.port) else {
                reply(.badRequest, CloseReason(.badRequest, "bad address \(target.host)"))
                return
            }
            resolved(.success(ResolvedAddresses(addresses: [addr], source: "literal")))
        case .name:
            let remote = loop.remote
            let h = handle
            phase = .resolving
            resolveStarted = MonotonicClock.now()
            if let now = worker.shared.resolver.resolve(host: target.host, port: target.port,
                                                         completion: { remote.deliver($0, to: h) }) {
                if case .success(let a) = now, a.source.hasSuffix("(cache)") { worker.metrics.nameResolved(cached: true, seconds: nil) }
                resolveStarted = 0
                resolved(now)
            }
        }
    }

    func resolved(_ outcome: ResolveOutcome) {
        if resolveStarted != 0 {
            worker.metrics.nameResolved(cached: false, seconds: Double(MonotonicClock.now() &- resolveStarted) / 1e9)
            resolveStarted = 0
        }
        if request?.method == "RESOLVE" { answerResolve(outcome); return }
        switch outcome {
        case .failure(let reason):
            reply(.badGateway, CloseReason(.resolveFailed, reason))
        case .success(let answer):
            // The rules also apply to where a name leads: `deny 127.0.0.0/8` must stop a name
            // that resolves to loopback, not only the literal address.
            if let target = request?.target, target.kind == .name {
                for a in answer.addresses {
                    guard let ip = try? HostPort(host: a.ipString, port: target.port) else { continue }
                    if case .denied(let reason) = config.rules.check(target, resolvedTo: ip) {
                        reply(.forbidden, CloseReason(.forbidden, reason))
                        return
                    }
                }
            }
            addresses = answer.addresses
            addressIndex = 0
            connectNext()
        }
    }

    private func connectNext() {
        guard addressIndex < addresses.count else {
            reply(.badGateway, CloseReason(.unreachable, lastConnectError.isEmpty ? "no address to connect to" : lastConnectError))
            return
        }
        let addr = addresses[addressIndex]
        do {
            upstreamFD = try Socket.makeTCP(family: addr.family)
        } catch {
            lastConnectError = "\(error)"
            addressIndex += 1
            connectNext()
            return
        }
        Socket.setNoDelay(upstreamFD)
        let slot = connectSlot ?? AddressSlot()
        connectSlot = slot
        phase = .connecting
        connectTimedOut = false
        armDeadline(after: config.connectTimeout)
        loop.connect(handle, op: Op.connect.rawValue, fd: upstreamFD, to: addr, slot: slot)
    }

    func connectCompleted(_ result: Int32) {
        guard phase == .connecting, addressIndex < addresses.count else { return }
        let addr = addresses[addressIndex]
        if result == 0 {
            summary.upstreamAddress = addr.description
            upstreamReady()
            return
        }
        Socket.close(upstreamFD)
        upstreamFD = -1
        if connectTimedOut {
            reply(.gatewayTimeout, CloseReason(.connectTimeout, "connect to \(addr) timed out after \(format(config.connectTimeout))"))
            return
        }
        lastConnectError = "connect to \(addr): \(SystemError.message(of: -result))"
        addressIndex += 1
        connectNext()
    }

    /// The upstream connection is up (directly or through the relay): a tunnel is answered
    /// 200, a plain-http request is forwarded.
    func upstreamReady() {
        if forward != nil { beginForward() } else { reply(.ok, nil) }
    }

    /// Sends a status line. `close == nil` means success: the tunnel starts once it is sent.
    func reply(_ status: HTTPStatusResponse.Status, _ close: CloseReason?) {
        let challenge = status != .proxyAuthenticationRequired ? nil
            : worker.shared.relayGate != nil ? RelayGate.challenge : ProxyAuthenticator.challenge
        let bytes = HTTPStatusResponse(status: status, reason: close?.reason,
                                       httpVersion: request?.httpVersion ?? "HTTP/1.1", challenge: challenge).bytes
        pendingClose = close
        stageResponse(bytes)
        phase = .replying
        armDeadline(after: config.headerTimeout)
        sendResponse()
    }

    /// Copies `bytes` into `responseBuffer`, which stays put until the send completes, and
    /// returns it (nil for no bytes).
    @discardableResult
    func stageResponse(_ bytes: [UInt8]) -> UnsafeMutableRawPointer? {
        if let old = responseBuffer { old.deallocate() }
        responseBuffer = nil
        responseLength = 0
        responseSent = 0
        guard !bytes.isEmpty else { return nil }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 1)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress ?? UnsafeRawPointer(buffer), byteCount: bytes.count) }
        responseBuffer = buffer
        responseLength = bytes.count
        return buffer
    }

    func sendResponse() {
        guard let responseBuffer, responseSent < responseLength else { return }
        loop.send(handle, op: Op.clientSend.rawValue, fd: clientFD,
                  from: responseBuffer + responseSent, count: responseLength - responseSent)
    }

    func responseSent(_ result: Int32) {
        if result == -EAGAIN || result == -EINTR { sendResponse(); return }
        guard result > 0 else {
            finish(pendingClose ?? CloseReason(.clientGone, "client: \(SystemError.message(of: -result)) while sending the response"))
            return
        }
        responseSent += Int(result)
        if responseSent < responseLength { sendResponse(); return }
        stageResponse([])
        guard pendingClose == nil, let request else {
            linger()
            return
        }
        if config.intercepts(request.target) {
            beginIntercept()
        } else {
            summary.mode = .passthrough
            beginHandshake()
        }
    }

    /// After an error answer: half-close and read what the client still sends until it closes,
    /// so the kernel does not reset the connection before the client has read the answer.
    private func linger() {
        phase = .lingering
        armDeadline(after: 2)
        // Veil's own answer, complete: through the HTTPS listener it ends with close_notify.
        clientFront?.bridgeEndAuthenticated = true
        loop.shutdownWrite(handle, op: Op.lingerShutdown.rawValue, fd: clientFD)
        lingerReceive()
    }

    private func lingerReceive() {
        loop.recv(handle, op: Op.lingerRecv.rawValue, fd: clientFD, into: worker.discard, count: 4096)
    }

    func lingerReceived(_ result: Int32) {
        if result > 0 || result == -EAGAIN || result == -EINTR {
            lingerReceive()
        } else {
            finish(pendingClose ?? CloseReason(.error, "closed after an answer"))
        }
    }
}
