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
/// TLS session upstream. The handshakes are `InterceptMachine`'s; this is its owner: completions,
/// deadlines and the minted certificate become its events, its actions the runtime's typed
/// operations. Nothing is decided here. Once the machine hands the legs over, the relay runs
/// (Connection+InterceptRelay, Connection+MixedTransfer, the splice transfer).
extension Connection {
    /// `pipelined`: the bytes of the request buffer the client sent after its request head.
    func beginIntercept(_ request: ConnectRequest, pipelined: Range<Int>, ech: UpstreamECH) {
        summary.mode = .intercept
        summary.verified = !config.insecureUpstream
        guard let ic = worker.shared.interception else {
            finish(CloseReason(.error, "interception is not set up on this worker"))
            return
        }
        guard let requestBytes = requestBuffer else {
            finish(CloseReason(.error, "interception started without the CONNECT request"))
            return
        }
        requestBuffer = nil
        defer { worker.recordBuffers.give(requestBytes) }
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
        let client = TLSLeg(.client, engine: clientEngine, logAll: logAll)
        let upstream = TLSLeg(.upstream, engine: upstreamEngine, logAll: logAll)
        if let keylog = worker.keylog {
            for leg in [client, upstream] { leg.engine.onKeyLog = { line in keylog.append(line + "\n") } }
        }
        let settings = InterceptMachine.Settings(
            target: request.target, handshakeTimeout: config.handshakeTimeout, allowSNIMismatch: config.allowSNIMismatch,
            sniPolicy: config.sniPolicy(for: request.target), ktls: config.ktls,
            kernelTLSAvailable: ic.kernelTLS.isAvailable, viaListener: summary.front != nil,
            clientIsTCP: Socket.isTCP(clientFD), upstreamIsTCP: Socket.isTCP(upstreamFD),
            logRecords: logAll, sessions: ic.sessions, minter: ic.minter, ech: ech)
        phase = .intercept(Held(InterceptMachine(settings: settings, client: client, upstream: upstream)))
        if interceptActions.capacity < 16 { interceptActions.reserveCapacity(16) }
        // Bytes the client sent right after its CONNECT request are the start of its TLS.
        interceptEvent(.start(pipelined: UnsafeRawBufferPointer(start: requestBytes + pipelined.lowerBound, count: pipelined.count),
                              now: MonotonicClock.now()))
    }

    /// Feeds one event to the intercept machine and performs what it asks.
    func interceptEvent(_ event: InterceptMachine.Event) {
        guard case .intercept(let held) = phase else { return }
        interceptActions.removeAll(keepingCapacity: true)
        held.machine.handle(event, &interceptActions)
        var i = 0
        while i < interceptActions.count {
            let action = interceptActions[i]
            i += 1
            perform(action, held)
        }
    }

    /// A completion of one of the handshakes' operations.
    func interceptCompleted(_ op: Op, result: Int32) {
        switch op {
        case .clientRecv: interceptEvent(.received(.client, result: result, now: MonotonicClock.now()))
        case .upstreamRecv: interceptEvent(.received(.upstream, result: result, now: MonotonicClock.now()))
        case .clientSend: interceptEvent(.sent(.client, result: result, now: MonotonicClock.now()))
        case .upstreamSend: interceptEvent(.sent(.upstream, result: result, now: MonotonicClock.now()))
        case .alertSend: interceptEvent(.refusalSent)
        case .connect: echRetryConnected(result)
        default: break
        }
    }

    /// A certificate minted off the ring.
    func certificateMinted(_ outcome: MintOutcome) {
        guard let c = outcome.certificate else {
            interceptEvent(.certificateFailed(outcome.error ?? "unknown error"))
            return
        }
        worker.certificates.insert(c)
        interceptEvent(.certificateMinted(c, now: MonotonicClock.now()))
    }

    /// Performs one action of `held`'s machine (an immediate outcome is its next event, whose
    /// actions join the list being performed).
    private func perform(_ action: InterceptMachine.Action, _ held: Held<InterceptMachine>) {
        switch action {
        case .receive(let side, let buffer, let max, let dontWait):
            loop.recv(handle, op: Op.receive(side).rawValue, fd: fd(side), into: buffer, max: max, dontWait: dontWait)
        case .cancelReceive(let side):
            loop.cancel(handle, op: Op.cancel.rawValue, target: Op.receive(side).rawValue)
        case .installKernelTLS(let side, let transmit, let receive):
            installKernelTLS(side, transmit: transmit, receive: receive, held)
        case .send(let side, let buffer):
            loop.send(handle, op: Op.send(side).rawValue, fd: fd(side), from: buffer)
        case .requestCertificate(let name):
            requestCertificate(for: name, held)
        case .refuse(let alert):
            sendRefusal(alert)
        case .setDeadline(let at):
            phaseDeadline = at
            applyDeadline()
        case .logRecord(let direction, let record):
            worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                               direction: direction, summary: record))
        case .note(let note):
            noted(note)
        case .startRelay(let client, let upstream):
            startRelay(client: client, upstream: upstream)
        case .startMixedRelay(let kernel, let userspace):
            startMixedRelay(kernel: kernel, userspace: userspace)
        case .startKernelSplice:
            summary.clientPath = .ktlsSplice
            summary.upstreamPath = .ktlsSplice
            if let p = plaintext { worker.recordBuffers.give(p); plaintext = nil }
            startTransfer(.kernelTLS(SpliceMachine(.kernelTLS, idleTimeout: config.idleTimeout, pipeSizeLimit: config.pipeSize)))
        case .retryUpstream(let host, let port):
            startECHRetry(host: host, port: port, held)
        case .forgetECHConfig(let host, let port):
            (worker.shared.resolver as? ResolverChain)?.forgetECHConfig(for: host, port: port)
        case .close(let reason):
            finish(reason)
        }
    }

    /// Installs kTLS on one leg's socket and tells the machine at once. The VM test's fault
    /// injection acts here, as the kernel would: VEIL_FAULT_KTLS_REFUSE=client|upstream refuses
    /// that leg, VEIL_FAULT_KTLS_SEQUENCE=N installs a wrong transmit sequence number.
    private func installKernelTLS(_ side: TransferSide, transmit: KernelTLSKeys, receive: KernelTLSKeys,
                                  _ held: Held<InterceptMachine>) {
        let interception = worker.shared.interception
        let fault = interception?.ktlsSequenceFault ?? 0
        let error: String?
        if interception?.ktlsRefusedLeg == side.name {
            error = "refused by VEIL_FAULT_KTLS_REFUSE"
        } else {
            error = KernelTLS.install(fd: fd(side),
                                      transmit: fault == 0 ? transmit : transmit.advanced(by: fault), receive: receive)
        }
        held.machine.handle(.kernelTLSInstalled(side, error: error, now: MonotonicClock.now()), &interceptActions)
    }

    /// A certificate for `name`: the worker's cache answers at once, else it is minted off the
    /// ring and comes back through the mailbox.
    private func requestCertificate(for name: String, _ held: Held<InterceptMachine>) {
        guard let ic = worker.shared.interception else {
            interceptEvent(.certificateFailed("interception is not set up"))
            return
        }
        if let cached = worker.certificates.lookup(name) {
            ic.workerCacheHits.wrappingAdd(1, ordering: .relaxed)
            held.machine.handle(.certificateMinted(cached, now: MonotonicClock.now()), &interceptActions)
            return
        }
        let minter = ic.minter
        let remote = loop.remote
        let h = handle
        ic.mintQueue.async {
            do {
                let c = try minter.certificate(for: name)
                remote.deliver(MintOutcome(certificate: c, error: nil), to: h)
            } catch {
                remote.deliver(MintOutcome(certificate: nil, error: "\(error)"), to: h)
            }
        }
    }

    func noted(_ note: InterceptNote) {
        switch note {
        case .end(let side, let end): noteEnd(client: side == .client, end)
        case .sent(let side, let count):
            if side == .upstream { summary.bytesUp += UInt64(count) } else { summary.bytesDown += UInt64(count) }
        case .sni(let sni): summary.sni = sni
        case .upstreamSNI(let name): summary.upstreamSNI = name
        case .clientECH:
            summary.clientECH = true
        case .echRetried:
            summary.echRetried = true
        case .ech(let token, let outer):
            summary.ech = token
            summary.outerSNI = outer
        case .upstreamHandshake(let version, let cipher, let alpn, let resumed, let nanos):
            upstreamHandshakeNanos = nanos
            summary.tlsVersion = version
            summary.cipher = cipher
            summary.alpn = alpn
            summary.resumed = resumed
        case .clientHandshake(let version, let cipher, let resumed):
            summary.clientTLS = version
            summary.clientCipher = cipher
            summary.clientResumed = resumed
        case .kernelTLS(let note):
            summary.ktlsNote = note
        case .records(let records):
            summary.records = records
        case .recordsNote(let note):
            summary.recordsNote = note
        }
    }
}
