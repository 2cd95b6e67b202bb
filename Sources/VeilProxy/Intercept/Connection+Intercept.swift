import VeilResolver
import VeilWire
import Synchronization
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// A certificate minted off the ring, delivered through the loop's mailbox.
struct MintOutcome: Sendable {
    let certificate: MintedCertificate?
    let error: String?
}

/// Interception: Veil terminates the client's TLS with a minted certificate and runs its own
/// TLS session upstream.
///
/// ClientHello (read record by record) -> upstream handshake (ALPN offered = the client's list,
/// SNI per policy, verified against the real name, cached session offered) -> client handshake
/// (minted certificate, ALPN = what upstream chose) -> relay: SSL_read on one leg, SSL_write on
/// the other, with bounded buffers (a full output buffer stops reading from the other side).
extension Connection {
    var interception: Interception { worker.shared.interception! }

    /// Room an engine's output must have before another record is sealed into it.
    static let recordRoom = 17 << 10
    private static let plaintextChunk = 16 << 10

    func beginIntercept() {
        intercepting = true
        summary.mode = .intercept
        summary.verified = !config.insecureUpstream
        phase = .clientHello
        armDeadline(after: config.handshakeTimeout)
        let ic = interception
        let logAll = config.recordLog == .records
        let clientEngine: TLSEngine
        let upstreamEngine: TLSEngine
        do {
            clientEngine = try TLSEngine(context: ic.clientContext, role: .server,
                                         inboundCapacity: 128 << 10, outboundCapacity: 128 << 10)
            upstreamEngine = try TLSEngine(context: ic.upstreamContext, role: .client,
                                           inboundCapacity: 128 << 10, outboundCapacity: 128 << 10)
        } catch {
            finish(CloseReason(.error, "TLS set-up: \(error)"))
            return
        }
        let client = TLSLeg(fd: clientFD, engine: clientEngine, recvOp: .clientRecv, sendOp: .clientSend,
                            inbound: .clientToProxy, outbound: .proxyToClient, logAll: logAll)
        let upstream = TLSLeg(fd: upstreamFD, engine: upstreamEngine, recvOp: .upstreamRecv, sendOp: .upstreamSend,
                              inbound: .upstreamToProxy, outbound: .proxyToUpstream, logAll: logAll)
        clientLeg = client
        upstreamLeg = upstream
        for leg in [client, upstream] {
            if let keylog = worker.keylog {
                leg.engine.onKeyLog = { line in keylog.append(line + "\n") }
            }
            if logAll {
                leg.engine.onOutput = { [unowned self, unowned leg] bytes in self.scan(leg, bytes, inbound: false) }
            }
        }
        // Bytes the client sent right after its CONNECT request are the start of its TLS.
        guard let request = self.request, let requestBytes = requestBuffer else {
            finish(CloseReason(.error, "interception started without the CONNECT request"))
            return
        }
        let pipelined = requestFilled - request.headerLength
        requestBuffer = nil
        defer { worker.recordBuffers.give(requestBytes) }
        if pipelined > 0 {
            guard pipelined <= clientEngine.inbound.writable else {
                finish(CloseReason(.badRequest, "client sent \(pipelined) bytes before the tunnel was up"))
                return
            }
            clientEngine.inbound.append(requestBytes + request.headerLength, count: pipelined)
            scan(client, UnsafeRawBufferPointer(start: requestBytes + request.headerLength, count: pipelined), inbound: true)
        }
        if phase == .clientHello { receive(client, exact: true) }
    }

    // MARK: Reading and writing sockets

    /// Reads into the leg's engine input: during handshakes exactly up to the next record
    /// boundary when a kTLS switch may follow (nothing past the handshake may sit in userspace
    /// then), otherwise, and afterwards, as much as fits.
    func receive(_ leg: TLSLeg, exact: Bool, dontWait: Bool = false) {
        guard !leg.receiving, !leg.eof else { return }
        let input = leg.engine.inbound
        let limit = exact && kernelSwitchPossible ? leg.inScanner.bytesToBoundary : .max
        guard loop.recv(handle, op: leg.recvOp.rawValue, fd: leg.fd, into: input, max: limit, dontWait: dontWait) > 0 else {
            if exact { finish(CloseReason(.handshakeFailed, "handshake record does not fit in \(input.capacity) bytes")) }
            return
        }
        leg.receiving = true
    }

    /// Whether this connection may move onto kTLS after its handshakes (see handshakesDone).
    var kernelSwitchPossible: Bool {
        config.ktls != .off && interception.kernelTLS.isAvailable && summary.front == nil
    }

    func legReceived(_ leg: TLSLeg?, _ result: Int32) {
        guard let leg else { return }
        leg.receiving = false
        leg.engine.inbound.pinned = false
        // A fatal alert is on its way out to one peer: nothing read now matters.
        if phase == .lingering { return }
        if result == -EAGAIN || result == -EINTR || (result == -ECANCELED && phase == .kernelSwitch) {
            if phase == .kernelSwitch {
                leg.wouldBlock = true
                switchReceived(leg)
            } else {
                continueIntercept(after: leg)
            }
            return
        }
        let isClient = leg === clientLeg
        if result < 0 {
            finish(gone(client: isClient, result: result))
            return
        }
        if result == 0 {
            leg.eof = true
            if phase == .kernelSwitch {
                startRelay()  // the userspace relay passes the close on
                return
            }
            if phase != .interceptRelay && phase != .mixedRelay {
                noteEnd(client: isClient, leg.inScanner.atBoundary ? .fin : .finMidRecord)
                finish(CloseReason(isClient ? .clientGone : .upstreamGone,
                                   "\(isClient ? "client" : "upstream") closed during the TLS handshake"))
                return
            }
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            lastActivity = MonotonicClock.now()
            scan(leg, UnsafeRawBufferPointer(start: start, count: Int(result)), inbound: true)
            guard phase != .closing else { return }
            if phase == .kernelSwitch {
                switchReceived(leg)
                return
            }
        }
        continueIntercept(after: leg)
    }

    /// Sends what the leg's engine has produced; after a close was queued and everything is
    /// out, shuts the socket's write side.
    func flush(_ leg: TLSLeg) {
        guard !leg.sending, phase != .closing else { return }
        let sent = loop.send(handle, op: leg.sendOp.rawValue, fd: leg.fd, from: leg.engine.outbound)
        if sent > 0 {
            leg.sending = true
            leg.sendingCount = sent
        } else if leg.closeQueued && !leg.writeShut {
            leg.writeShut = true
            writeSideShutting(leg)
            loop.shutdownWrite(handle, op: (leg === clientLeg ? Op.clientShutdown : Op.upstreamShutdown).rawValue,
                               fd: leg.fd)
        }
    }

    func legSent(_ leg: TLSLeg?, _ result: Int32) {
        guard let leg else { return }
        leg.sending = false
        leg.engine.outbound.pinned = false
        if result > 0 {
            leg.engine.outbound.consume(Int(result))
            if leg === upstreamLeg { summary.bytesUp += UInt64(result) } else { summary.bytesDown += UInt64(result) }
            lastActivity = MonotonicClock.now()
        } else if result != -EAGAIN && result != -EINTR {
            finish(gone(client: leg === clientLeg, result: result))
            return
        }
        continueIntercept(after: leg)
    }

    private func continueIntercept(after leg: TLSLeg) {
        switch phase {
        case .clientHello:
            receive(leg, exact: true)
        case .upstreamHandshake:
            if leg === upstreamLeg { driveUpstreamHandshake() } else { flush(leg) }
        case .clientHandshake:
            if leg === clientLeg { driveClientHandshake() } else { flush(leg) }
        case .awaitingCertificate:
            flush(leg)
        case .interceptRelay:
            relay()
        case .mixedRelay:
            mixedRelay()
        case .kernelSwitch:
            continueKernelSwitch()
        case .lingering:
            alertProgress(leg)
        default:
            break
        }
    }

    // MARK: Records

    /// Frames bytes read from (`inbound`) or written to a leg into records, for the record log
    /// and, on the client's side, to find its ClientHello.
    func scan(_ leg: TLSLeg, _ bytes: UnsafeRawBufferPointer, inbound: Bool) {
        let logAll = config.recordLog == .records
        guard logAll || (inbound && leg === clientLeg && phase == .clientHello) || (inbound && phase != .interceptRelay) else { return }
        do {
            if inbound {
                try leg.inScanner.feed(bytes) { record throws(TLSParseError) in try recordSeen(leg, record, inbound: true) }
            } else {
                try leg.outScanner.feed(bytes) { record throws(TLSParseError) in try recordSeen(leg, record, inbound: false) }
            }
        } catch {
            let isClient = leg === clientLeg
            let first = isClient && inbound && leg.tracker.clientHello == nil
            finish(CloseReason(first ? .notTLS : .handshakeFailed,
                               Connection.describe(error, from: isClient ? .client : .server)))
        }
    }

    private func recordSeen(_ leg: TLSLeg, _ record: RecordScanner.Record, inbound: Bool) throws(TLSParseError) {
        // Which end of this leg's TLS session wrote the record.
        let side: TLSFlowTracker.Side = ((leg === clientLeg) == inbound) ? .client : .server
        var summaryLine = TLSRecordSummary(contentType: record.header.contentType, length: record.header.length,
                                           isOpaque: true)
        let describe = config.recordLog == .records || (leg === clientLeg && inbound && phase == .clientHello)
        if describe, !leg.trackerFailed, !leg.tracker.isHandshakeComplete, let body = record.body {
            do {
                summaryLine = try leg.tracker.consume(type: record.header.contentType, body: body, from: side)
            } catch {
                // Before OpenSSL has seen anything, a bad ClientHello is the client's fault;
                // later, OpenSSL is the judge and the tracker only stops describing.
                if leg === clientLeg && inbound && phase == .clientHello { throw error }
                leg.trackerFailed = true
            }
        }
        if config.recordLog == .records {
            worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                               direction: inbound ? leg.inbound : leg.outbound, summary: summaryLine))
        }
        if leg === clientLeg && inbound && phase == .clientHello, let hello = leg.tracker.clientHello {
            clientHelloArrived(hello)
        }
    }

    // MARK: Handshakes

    private func clientHelloArrived(_ hello: ClientHello) {
        guard acceptClientSNI(hello) else { return }
        guard let target = request?.target else {
            finish(CloseReason(.error, "interception without the CONNECT request"))
            return
        }
        requestCertificate(for: hello.serverName ?? target.host)
        startUpstreamHandshake(alpn: hello.alpn)
    }

    private func requestCertificate(for name: String) {
        let minter = interception.minter
        if let cached = worker.certificates.lookup(name) {
            certificate = cached
            interception.workerCacheHits.wrappingAdd(1, ordering: .relaxed)
            return
        }
        mintPending = true
        let remote = loop.remote
        let h = handle
        interception.mintQueue.async {
            do {
                let c = try minter.certificate(for: name)
                remote.deliver(MintOutcome(certificate: c, error: nil), to: h)
            } catch {
                remote.deliver(MintOutcome(certificate: nil, error: "\(error)"), to: h)
            }
        }
    }

    func certificateMinted(_ outcome: MintOutcome) {
        mintPending = false
        guard let c = outcome.certificate else {
            finish(CloseReason(.error, "cannot mint a certificate: \(outcome.error ?? "unknown error")"))
            return
        }
        certificate = c
        worker.certificates.insert(c)
        if phase == .awaitingCertificate { startClientHandshake() }
    }

    private func startUpstreamHandshake(alpn: [String]) {
        phase = .upstreamHandshake
        guard let leg = upstreamLeg, let target = request?.target else { return }
        let policy = config.sniPolicy(for: target)
        let serverName = policy.serverName(for: target)
        summary.upstreamSNI = serverName ?? "-"
        let key = "\(target)|\(policy)"
        let sessions = interception.sessions
        let session = sessions.take(for: key)
        do {
            try leg.engine.configureClient(serverName: serverName, verifyName: target.host, alpn: alpn,
                                           session: session)
        } catch {
            finish(CloseReason(.error, "upstream TLS set-up: \(error)"))
            return
        }
        leg.engine.onNewSession = { [unowned self] session in
            sessions.store(session, for: key)
            self.upstreamTickets += 1
            return false
        }
        upstreamHandshakeStarted = MonotonicClock.now()
        offeredSessionKey = session != nil ? key : nil
        driveUpstreamHandshake()
    }

    private func driveUpstreamHandshake() {
        guard let leg = upstreamLeg else { return }
        switch leg.engine.handshake() {
        case .needsInput:
            flush(leg)
            receive(leg, exact: true)
        case .complete:
            flush(leg)
            upstreamHandshakeDone(leg)
        case .failed(let reason):
            if reason.hasPrefix("certificate: ") {
                let what = String(reason.dropFirst("certificate: ".count))
                sendAlertAndClose(CloseReason(.upstreamCertificate, "upstream certificate: \(what)"), alert: 40)
            } else {
                sendAlertAndClose(CloseReason(.handshakeFailed, "upstream handshake: \(reason)"), alert: 40)
            }
        }
    }

    private func upstreamHandshakeDone(_ leg: TLSLeg) {
        upstreamHandshakeNanos = MonotonicClock.now() &- upstreamHandshakeStarted
        summary.tlsVersion = leg.engine.version
        summary.cipher = leg.engine.cipher
        summary.alpn = leg.engine.alpn
        summary.resumed = leg.engine.isResumed
        if let key = offeredSessionKey, !leg.engine.isResumed {
            // The server refused the ticket: stop offering it (a new one replaces it anyway).
            interception.sessions.remove(for: key)
        }
        if certificate != nil {
            startClientHandshake()
        } else {
            phase = .awaitingCertificate
        }
    }

    private func startClientHandshake() {
        phase = .clientHandshake
        guard let leg = clientLeg, let certificate else { return }
        do {
            try leg.engine.configureServer(certificate: certificate, minter: interception.minter,
                                           alpn: upstreamLeg?.engine.alpn)
        } catch {
            finish(CloseReason(.error, "client TLS set-up: \(error)"))
            return
        }
        driveClientHandshake()
    }

    private func driveClientHandshake() {
        guard let leg = clientLeg else { return }
        switch leg.engine.handshake() {
        case .needsInput:
            flush(leg)
            receive(leg, exact: true)
        case .complete:
            flush(leg)
            summary.clientTLS = leg.engine.version
            summary.clientCipher = leg.engine.cipher
            summary.clientResumed = leg.engine.isResumed
            handshakesDone()
        case .failed(let reason):
            flush(leg)
            finish(CloseReason(.handshakeFailed, "client handshake: \(reason)"))
        }
    }

    // MARK: Relay

    func startRelay() {
        phase = .interceptRelay
        summary.path = .userspace
        summary.clientPath = .userspace
        summary.upstreamPath = .userspace
        if plaintext == nil { plaintext = worker.recordBuffers.take() }
        lastActivity = MonotonicClock.now()
        armDeadline(after: config.idleTimeout)
        if let client = clientLeg, let upstream = upstreamLeg { chooseRecordLayer(client: client, upstream: upstream) }
        relay()
    }

    /// Moves whatever can move in both directions, then reads more where there is room.
    private func relay() {
        guard phase == .interceptRelay, let client = clientLeg, let upstream = upstreamLeg else { return }
        if recordLayer == .pending { takeOverRecords(client: client, upstream: upstream) }
        pump(from: client, to: upstream)
        guard phase == .interceptRelay else { return }
        pump(from: upstream, to: client)
        guard phase == .interceptRelay else { return }
        if recordLayer == .pending {
            // The first upstream data or ticket may have just come through OpenSSL.
            takeOverRecords(client: client, upstream: upstream)
            if recordLayer == .veil {
                pump(from: client, to: upstream)
                guard phase == .interceptRelay else { return }
                pump(from: upstream, to: client)
                guard phase == .interceptRelay else { return }
            }
        }
        flush(client)
        flush(upstream)
        let largestRecord = 5 + (16 << 10) + 2048  // header included; TLS 1.2 allows 2048 of expansion
        for leg in [client, upstream] where !leg.eof {
            // The other leg's output has room, or this leg's input is what holds things up.
            // With more than the largest record still waiting, a whole record is there and the
            // other leg's output is what holds things up (its send is in flight): reading now
            // would only move (compact) the waiting bytes; the pump after that send completes
            // makes room and reads again.
            guard leg.engine.inbound.readable < largestRecord else { continue }
            receive(leg, exact: false)
        }
        if client.sourceDone && upstream.writeShut && upstream.sourceDone && client.writeShut {
            finish(CloseReason(.ok, client.closeNotify || upstream.closeNotify ? "both sides closed" : "both sides closed without close_notify"))
        }
    }

    /// Decrypts from `src` and encrypts into `dst` while `dst` has room for another record.
    private func pump(from src: TLSLeg, to dst: TLSLeg) {
        if let opener = src.opener, let sealer = dst.sealer {
            pumpRecords(from: src, to: dst, opener: opener, sealer: sealer)
            return
        }
        guard let plaintext else { return }
        let pending = recordLayer == .pending
        while !src.closeNotify && dst.engine.outbound.writable >= Connection.recordRoom {
            // relay() pumps both directions after every completion: skip OpenSSL when this
            // side has nothing to give. Before a takeover, OpenSSL gets whole records only.
            let ready = pending ? src.engine.holdsPlaintextOrRecords || RecordCipher.wholeRecord(in: src.engine.inbound) > 0
                                : src.engine.hasInput
            let result: TLSEngine.ReadResult = ready
                ? src.engine.read(into: plaintext, max: Connection.plaintextChunk) : .needsInput
            switch result {
            case .data(let n):
                if src === upstreamLeg { upstreamDataSeen = true }
                opensslRelayed &+= n
                var offset = 0
                while offset < n {
                    let w = dst.engine.write(plaintext + offset, count: n - offset)
                    if w == 0 {
                        finish(CloseReason(.error, "internal: TLS output buffer full"))
                        return
                    }
                    offset += w
                }
            case .needsInput:
                if src.eof {
                    // EOF without close_notify: a bare FIN on the other leg (part of a record
                    // still inside or before OpenSSL: it ended mid-record).
                    passUnauthenticatedEnd(from: src, to: dst, midRecord: src.engine.hasInput)
                }
                return
            case .closed:
                passCloseNotify(from: src, to: dst)
            case .failed(let reason):
                legFailed(src, reason, end: .opensslFailure(reason))
                return
            }
        }
    }
}
