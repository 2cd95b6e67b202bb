import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The handshake states: reading and writing the legs, the ClientHello, both handshakes.
extension InterceptMachine {
    mutating func start(pipelined: UnsafeRawBufferPointer, now: UInt64, _ actions: inout [Action]) {
        guard case .idle(let h) = state else { return }
        h.deadline = now &+ settings.handshakeTimeout.nanoseconds
        actions.append(.setDeadline(h.deadline))
        state = .clientHello(h)
        if pipelined.count > 0, let base = pipelined.baseAddress {
            guard pipelined.count <= h.client.engine.inbound.writable else {
                close(.earlyBytes(pipelined.count), &actions)
                return
            }
            _ = h.client.engine.inbound.append(base, count: pipelined.count)
            scanInput(h, .client, pipelined, now: now, &actions)
        }
        if case .clientHello = state { receive(h.client, exact: true, &actions) }
    }

    // MARK: Sockets

    mutating func received(_ side: TransferSide, result: Int32, now: UInt64, _ actions: inout [Action]) {
        if case .kernelSwitch(let k) = state {
            switchReceived(k, side, result: result, now: now, &actions)
            return
        }
        guard let h = handshake else { return }
        let leg = h.leg(side)
        leg.receiving = false
        leg.engine.inbound.pinned = false
        if result == -EAGAIN || result == -EINTR {
            continueAfter(side, h, now: now, &actions)
            return
        }
        if result < 0 {
            gone(side, result: result, &actions)
            return
        }
        if result == 0 {
            leg.eof = true
            actions.append(.note(.end(side, leg.inScanner.atBoundary ? .fin : .finMidRecord)))
            close(.closedDuringHandshake(side), &actions)
            return
        }
        let input = leg.engine.inbound
        let start = input.base + input.writeIndex
        input.didWrite(Int(result))
        scanInput(h, side, UnsafeRawBufferPointer(start: start, count: Int(result)), now: now, &actions)
        guard handshake != nil else { return }
        continueAfter(side, h, now: now, &actions)
    }

    mutating func sent(_ side: TransferSide, result: Int32, now: UInt64, _ actions: inout [Action]) {
        let h: InterceptHandshake
        switch state {
        case .idle(let x), .clientHello(let x), .upstreamHandshake(let x), .awaitingCertificate(let x),
             .clientHandshake(let x):
            h = x
        case .kernelSwitch(let k):
            switchSent(k, side, result: result, now: now, &actions)
            return
        case .refusing, .handedOver, .closed:
            return
        }
        guard legSent(h.leg(side), side, result: result, &actions) else { return }
        continueAfter(side, h, now: now, &actions)
    }

    /// A send on `side`'s leg completed (during the handshakes or the kTLS switch): what went
    /// out leaves the engine's output. False when the send failed: the side is gone, the
    /// machine closed.
    mutating func legSent(_ leg: TLSLeg, _ side: TransferSide, result: Int32, _ actions: inout [Action]) -> Bool {
        leg.sending = false
        leg.engine.outbound.pinned = false
        if result > 0 {
            leg.engine.outbound.consume(Int(result))
            actions.append(.note(.sent(side, Int(result))))
        } else if result != -EAGAIN && result != -EINTR {
            gone(side, result: result, &actions)
            return false
        }
        return true
    }

    /// After a completion on `side`: what its state does next.
    private mutating func continueAfter(_ side: TransferSide, _ h: InterceptHandshake, now: UInt64, _ actions: inout [Action]) {
        switch state {
        case .clientHello:
            receive(h.leg(side), exact: true, &actions)
        case .upstreamHandshake:
            if side == .upstream { driveUpstreamHandshake(h, now: now, &actions) } else { flush(h.client, &actions) }
        case .clientHandshake:
            if side == .client { driveClientHandshake(h, now: now, &actions) } else { flush(h.upstream, &actions) }
        case .awaitingCertificate:
            flush(h.leg(side), &actions)
        case .idle, .kernelSwitch, .refusing, .handedOver, .closed:
            break
        }
    }

    /// Reads into the leg's engine input: exactly up to the next record boundary when a kTLS
    /// switch may follow (nothing past the handshakes may sit in userspace then), else as much
    /// as fits. A handshake record larger than the input ends the connection.
    mutating func receive(_ leg: TLSLeg, exact: Bool, dontWait: Bool = false, _ actions: inout [Action]) {
        guard !leg.receiving, !leg.eof else { return }
        let input = leg.engine.inbound
        let limit = exact && settings.exactReads ? leg.inScanner.bytesToBoundary : .max
        guard min(input.writable, limit) > 0 else {
            if exact { close(.recordTooLarge(capacity: input.capacity), &actions) }
            return
        }
        leg.receiving = true
        actions.append(.receive(leg.isClient ? .client : .upstream, into: input, max: limit, dontWait: dontWait))
    }

    /// Sends what the leg's engine has produced.
    func flush(_ leg: TLSLeg, _ actions: inout [Action]) {
        let output = leg.engine.outbound
        guard !leg.sending, output.readable > 0 else { return }
        leg.sending = true
        actions.append(.send(leg.isClient ? .client : .upstream, from: output))
    }

    // MARK: Records

    /// Frames bytes read from a leg into records: the client's ClientHello is found there, and
    /// every record is logged with `--record-log records`.
    mutating func scanInput(_ h: InterceptHandshake, _ side: TransferSide, _ bytes: UnsafeRawBufferPointer,
                                    now: UInt64, _ actions: inout [Action]) {
        let leg = h.leg(side)
        do {
            try leg.inScanner.feed(bytes) { record throws(TLSParseError) in
                try recordRead(h, side, record, now: now, &actions)
            }
        } catch {
            let first = side == .client && leg.tracker.clientHello == nil
            close(.invalidTLS(error, from: side, notTLS: first), &actions)
        }
    }

    private mutating func recordRead(_ h: InterceptHandshake, _ side: TransferSide, _ record: RecordScanner.Record,
                                     now: UInt64, _ actions: inout [Action]) throws(TLSParseError) {
        let leg = h.leg(side)
        var awaitingHello = false
        if case .clientHello = state, side == .client { awaitingHello = true }
        var line = TLSRecordSummary(contentType: record.header.contentType, length: record.header.length, isOpaque: true)
        if settings.logRecords || awaitingHello {
            // Before OpenSSL has seen anything, a bad ClientHello is the client's fault; later,
            // OpenSSL is the judge and the tracker only stops describing.
            line = try leg.summarize(record, from: side == .client ? .client : .server, strict: awaitingHello)
        }
        if settings.logRecords { actions.append(.logRecord(leg.inbound, line)) }
        if awaitingHello, let hello = leg.tracker.clientHello {
            clientHelloArrived(h, hello, now: now, &actions)
        }
    }

    // MARK: Handshakes

    private mutating func clientHelloArrived(_ h: InterceptHandshake, _ hello: ClientHello, now: UInt64,
                                             _ actions: inout [Action]) {
        actions.append(.note(.sni(hello.serverName)))
        if hello.hasEncryptedClientHello { actions.append(.note(.clientECH)) }
        let host = settings.target.host
        if let sni = hello.serverName, !settings.allowSNIMismatch, !PassThroughMachine.sameHost(sni, host) {
            let failure: InterceptFailure = hello.hasEncryptedClientHello
                ? .clientECH(outerSNI: sni, host: host) : .sniMismatch(sni: sni, host: host)
            refuse(failure, alert: TLSAlert.Code.accessDenied, now: now, &actions)
            return
        }
        h.certificate = .pending
        actions.append(.requestCertificate(name: hello.serverName ?? host))
        startUpstreamHandshake(h, alpn: hello.alpn, now: now, &actions)
    }

    private mutating func startUpstreamHandshake(_ h: InterceptHandshake, alpn: [String], now: UInt64,
                                                 _ actions: inout [Action]) {
        state = .upstreamHandshake(h)
        let target = settings.target
        // With an ECH config the ClientHelloInner names the real target whatever --sni says
        // (it is encrypted); the outer one carries the config's public name.
        var serverName = settings.sniPolicy.serverName(for: target)
        var key = "\(target)|\(settings.sniPolicy)"
        h.alpn = alpn
        if case .config = h.ech {
            serverName = target.kind == .name ? target.host : serverName
            key = "\(target)|ech"  // a ticket from an ECH handshake is offered only inside ECH
        }
        actions.append(.note(.upstreamSNI(serverName ?? "-")))
        let sessions = settings.sessions
        let session = sessions.take(for: key)
        let leg = h.upstream
        do {
            try leg.engine.configureClient(serverName: serverName, verifyName: target.host, alpn: alpn, session: session)
            switch h.ech {
            case .off:
                actions.append(.note(.ech("off", outerSNI: serverName ?? "-")))
            case .grease:
                leg.engine.offerECHGrease(try ECHGrease.extensionData(serverName: serverName, alpn: alpn))
                actions.append(.note(.ech("grease", outerSNI: serverName ?? "-")))
            case .config(let selection, _):
                try leg.engine.offerECHInner()
                leg.engine.echFilter = ECHRecordFilter(builder: try ECHClientHelloBuilder(selection: selection))
                actions.append(.note(.ech("offered", outerSNI: selection.config.publicName)))
            }
        } catch {
            close(.upstreamSetUp("\(error)"), &actions)
            return
        }
        leg.engine.onNewSession = { [weak leg] session in
            sessions.store(session, for: key)
            leg?.tickets += 1
            return false
        }
        h.upstreamStarted = now
        h.offeredSession = session != nil ? key : nil
        driveUpstreamHandshake(h, now: now, &actions)
    }

    private mutating func driveUpstreamHandshake(_ h: InterceptHandshake, now: UInt64, _ actions: inout [Action]) {
        let leg = h.upstream
        switch leg.engine.handshake() {
        case .needsInput:
            flush(leg, &actions)
            receive(leg, exact: true, &actions)
        case .complete:
            flush(leg, &actions)
            upstreamHandshakeDone(h, now: now, &actions)
        case .failed(let failure):
            switch leg.engine.echFailure {
            case .rejected(let why)?:
                if let filter = leg.engine.echFilter {
                    actions.append(.note(.ech("rejected", outerSNI: filter.builder.config.publicName)))
                }
                var fromDNS = false
                if case .config(_, let source) = h.ech, source != UpstreamECH.explicitSource {
                    fromDNS = true
                    actions.append(.forgetECHConfig(host: settings.target.host, port: settings.target.port))
                }
                if fromDNS, !h.echRetried, !leg.sending, !leg.receiving {
                    // Once: the config may be stale; ask DNS again and reconnect (never in clear).
                    h.echRetried = true
                    h.echRejection = why
                    actions.append(.retryUpstream(host: settings.target.host, port: settings.target.port))
                    return
                }
                let reason = h.echRetried ? "\(h.echRejection); retried once with a fresh config from DNS: \(why)" : why
                refuse(.echRejected(reason, cacheDropped: fromDNS), alert: TLSAlert.Code.handshakeFailure, now: now, &actions)
            case .error(let why)?:
                refuse(.echFailed(why), alert: TLSAlert.Code.handshakeFailure, now: now, &actions)
            case nil:
                refuse(.upstreamHandshake(failure), alert: TLSAlert.Code.handshakeFailure, now: now, &actions)
            }
        }
    }

    /// The reconnect after an ECH rejection: go on with the new leg and the fresh config, or
    /// refuse the client (the real name is never sent in clear).
    mutating func upstreamRetried(_ leg: TLSLeg?, _ ech: UpstreamECH?, failure: String?, now: UInt64,
                                  _ actions: inout [Action]) {
        guard case .upstreamHandshake(let h) = state, h.echRetried else { return }
        guard let leg, let ech, failure == nil else {
            refuse(.echRejected("\(h.echRejection); no retry: \(failure ?? "no new connection")", cacheDropped: true),
                   alert: TLSAlert.Code.handshakeFailure, now: now, &actions)
            return
        }
        h.upstream = leg
        h.ech = ech
        if settings.logRecords {
            let log = recordLog
            leg.engine.onOutput = { [unowned leg] bytes in log.scanOutput(leg, bytes) }
        }
        actions.append(.note(.echRetried))
        startUpstreamHandshake(h, alpn: h.alpn, now: now, &actions)
    }

    private mutating func upstreamHandshakeDone(_ h: InterceptHandshake, now: UInt64, _ actions: inout [Action]) {
        let engine = h.upstream.engine
        h.upstreamNanos = now &- h.upstreamStarted
        if let filter = engine.echFilter {
            // OpenSSL completed the inner handshake: the server confirmed ECH (a rejection
            // stops the handshake before).
            actions.append(.note(.ech(filter.verdict == .accepted ? "accepted" : "rejected",
                                      outerSNI: filter.builder.config.publicName)))
        }
        actions.append(.note(.upstreamHandshake(version: engine.version, cipher: engine.cipher, alpn: engine.alpn,
                                                resumed: engine.isResumed, nanos: h.upstreamNanos)))
        if let key = h.offeredSession, !engine.isResumed {
            // The server refused the ticket: stop offering it (a new one replaces it anyway).
            settings.sessions.remove(for: key)
        }
        if case .ready(let certificate) = h.certificate {
            startClientHandshake(h, certificate, now: now, &actions)
        } else {
            state = .awaitingCertificate(h)
        }
    }

    mutating func certificateMinted(_ certificate: MintedCertificate, now: UInt64, _ actions: inout [Action]) {
        guard let h = handshake else { return }
        h.certificate = .ready(certificate)
        if case .awaitingCertificate = state { startClientHandshake(h, certificate, now: now, &actions) }
    }

    private mutating func startClientHandshake(_ h: InterceptHandshake, _ certificate: MintedCertificate, now: UInt64,
                                               _ actions: inout [Action]) {
        state = .clientHandshake(h)
        do {
            try h.client.engine.configureServer(certificate: certificate, minter: settings.minter,
                                                alpn: h.upstream.engine.alpn)
        } catch {
            close(.clientSetUp("\(error)"), &actions)
            return
        }
        driveClientHandshake(h, now: now, &actions)
    }

    private mutating func driveClientHandshake(_ h: InterceptHandshake, now: UInt64, _ actions: inout [Action]) {
        let leg = h.client
        switch leg.engine.handshake() {
        case .needsInput:
            flush(leg, &actions)
            receive(leg, exact: true, &actions)
        case .complete:
            flush(leg, &actions)
            actions.append(.note(.clientHandshake(version: leg.engine.version, cipher: leg.engine.cipher,
                                                  resumed: leg.engine.isResumed)))
            handshakesDone(h, now: now, &actions)
        case .failed(let failure):
            flush(leg, &actions)
            close(.clientHandshake(failure), &actions)
        }
    }
}
