import VeilRuntime
import VeilWire
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The start of a session: the listener's handshake record by record (plain HTTP answered with a
/// readable 400, a failed handshake with OpenSSL's alert), then the move onto kTLS where the
/// kernel and cipher allow, and the bridge; a tunnel's session goes straight to the relay.
extension OuterSessionMachine {
    mutating func start(_ actions: inout [Action]) {
        guard case .created(let start) = state else { return }
        switch start {
        case .listener(.failure(let failure)):
            close(failure, &actions)
        case .listener(.success(let e)):
            let h = OuterHandshake(engine: e)
            state = .handshake(h)
            actions.append(.setDeadline(.after(nanoseconds: settings.handshakeTimeout.nanoseconds)))
            receiveHandshake(h, &actions)
        case .tunnel(let e, let pending, let buffers):
            adopt(e, pending: pending, buffers: buffers, &actions)
        }
    }

    // MARK: The listener's handshake

    /// Record by record: at the end nothing past the handshake is inside OpenSSL, so the session
    /// can move onto kTLS with exact sequence numbers.
    private mutating func receiveHandshake(_ h: OuterHandshake, _ actions: inout [Action]) {
        guard !h.receiving else { return }
        guard OuterSessionMachine.receive(into: h.engine.inbound, max: h.scanner.bytesToBoundary, &actions) else {
            close(.handshakeRecordTooLarge, &actions)
            return
        }
        h.receiving = true
    }

    mutating func handshakeReceived(_ h: OuterHandshake, _ result: Int32, _ actions: inout [Action]) {
        let e = h.engine
        h.receiving = false
        e.inbound.pinned = false
        if result == -EAGAIN || result == -EINTR { receiveHandshake(h, &actions); return }
        if result < 0 { close(.socket(errno: -result), &actions); return }
        if result == 0 { close(.closedDuringHandshake, &actions); return }
        let bytes = UnsafeRawBufferPointer(start: e.inbound.base + e.inbound.writeIndex, count: Int(result))
        let firstBytes = e.inbound.readable == 0 && h.scanner.atBoundary && e.version == nil
        e.inbound.didWrite(Int(result))
        do {
            try h.scanner.feed(bytes) { _ throws(TLSParseError) in }
        } catch {
            if firstBytes, let b = bytes.first, (0x41...0x5a).contains(b) {
                answerPlainHTTP(h, &actions)
            } else {
                close(.notTLS("\(error)"), &actions)
            }
            return
        }
        if h.scanner.atBoundary { driveHandshake(h, &actions) } else { receiveHandshake(h, &actions) }
    }

    private mutating func driveHandshake(_ h: OuterHandshake, _ actions: inout [Action]) {
        switch h.engine.handshake() {
        case .needsInput:
            flushHandshake(h, &actions)
            receiveHandshake(h, &actions)
        case .complete:
            established(h, &actions)
        case .failed(let why):
            // Send the alert OpenSSL queued, then end.
            let reason = OuterSessionFailure.handshake(why).closeReason(peer: peer)
            state = .failing(h, reason)
            if h.engine.outbound.readable > 0 { flushHandshake(h, &actions) } else { close(reason, &actions) }
        }
    }

    /// Plain HTTP on the TLS port: a readable answer instead of a TLS alert.
    private mutating func answerPlainHTTP(_ h: OuterHandshake, _ actions: inout [Action]) {
        let text = HTTPStatusResponse(status: .badRequest,
            reason: "this is Veil's HTTPS proxy listener: speak TLS to it (curl -x https://HOST:PORT --proxy-cacert <Veil CA>) or use the plain listener").bytes
        let reason = OuterSessionFailure.plainHTTP.closeReason(peer: peer)
        state = .failing(h, reason)
        let out = h.engine.outbound
        guard out.writable >= text.count, out.append(text) == text.count else {
            close(reason, &actions)
            return
        }
        flushHandshake(h, &actions)
    }

    private func flushHandshake(_ h: OuterHandshake, _ actions: inout [Action]) {
        guard !h.sending else { return }
        h.sending = OuterSessionMachine.send(h.engine.outbound, &actions)
    }

    mutating func handshakeSent(_ h: OuterHandshake, _ result: Int32, _ actions: inout [Action]) {
        let e = h.engine
        h.sending = false
        e.outbound.pinned = false
        let failed = result < 0 && result != -EAGAIN && result != -EINTR
        if case .failing(_, let reason) = state {
            if failed { close(reason, &actions); return }
            e.outbound.consume(max(0, Int(result)))
            if e.outbound.readable > 0 { flushHandshake(h, &actions) } else { close(reason, &actions) }
            return
        }
        if failed { close(.socket(errno: -result), &actions); return }
        e.outbound.consume(max(0, Int(result)))
        if e.isHandshakeComplete && e.outbound.readable == 0 {
            established(h, &actions)
        } else {
            flushHandshake(h, &actions)
        }
    }

    /// The outer handshake is done: TLS 1.3 session tickets from its final step go out first;
    /// then the session moves onto kTLS when it can, and the bridge opens.
    private mutating func established(_ h: OuterHandshake, _ actions: inout [Action]) {
        if h.engine.outbound.readable > 0 {
            flushHandshake(h, &actions)
            return
        }
        actions.append(.setDeadline(.none))
        moveOntoKernel(h.engine, then: .openBridge, &actions)
    }

    // MARK: kTLS

    /// Asks for kTLS on the socket with `e`'s keys where the kernel and cipher allow; otherwise
    /// the session stays in userspace, and the summary says why not.
    private mutating func moveOntoKernel(_ e: TLSEngine, then: AfterHandshake, _ actions: inout [Action]) {
        guard settings.kernelTLS else {
            afterKernel(e, installed: false, note: nil, then: then, &actions)
            return
        }
        switch e.kernelKeys() {
        case .keys(let tx, let rx):
            state = .installingKernelTLS(e, then: then)
            actions.append(.installKernelTLS(transmit: tx, receive: rx))
        case .unsupported(let why):
            afterKernel(e, installed: false, note: "\(OuterSessionMachine.notePrefix(then)): \(why)", then: then, &actions)
        }
    }

    mutating func kernelTLSInstalled(_ error: String?, _ actions: inout [Action]) {
        guard case .installingKernelTLS(let e, let then) = state else { return }
        guard let error else {
            // The kernel has the session: OpenSSL must not mark it "bad" when freed.
            e.handOver()
            afterKernel(e, installed: true, note: nil, then: then, &actions)
            return
        }
        afterKernel(e, installed: false, note: "\(OuterSessionMachine.notePrefix(then)): \(error)", then: then, &actions)
    }

    private static func notePrefix(_ then: AfterHandshake) -> String {
        switch then {
        case .openBridge: "front"
        case .relay: "tunnel"
        }
    }

    private mutating func afterKernel(_ e: TLSEngine, installed: Bool, note: String?, then: AfterHandshake,
                                      _ actions: inout [Action]) {
        let records = installed ? OuterRecords.kernel : userspaceRecords(e)
        let path: ConnectionSummary.DataPath = installed ? .ktls : .userspace
        switch then {
        case .openBridge:
            state = .openingBridge(records)
            actions.append(.openBridge(FrontInfo(tls: e.version ?? "?", cipher: e.cipher ?? "?", path: path, note: note,
                                                 clientCertificate: e.peerCertificateSHA256, alpn: e.alpn)))
        case .relay(let buffers):
            startRelay(OuterRelay(records: records, up: buffers.up, down: buffers.down), path: path, note: note, &actions)
        }
    }

    /// In userspace, OpenSSL is given whole records until Veil's record layer takes over
    /// (`--record-layer veil`), or keeps them for good.
    private func userspaceRecords(_ e: TLSEngine) -> OuterRecords {
        guard settings.recordLayer == .veil else {
            e.keepRecordsInOpenSSL()
            return .openssl(e, takeover: .never)
        }
        e.watchKeyUpdates()
        return .openssl(e, takeover: .pending)
    }

    mutating func bridgeOpened(_ buffers: OuterBuffers, _ actions: inout [Action]) {
        guard case .openingBridge(let records) = state else { return }
        let r = OuterRelay(records: records, up: buffers.up, down: buffers.down)
        state = .relay(r)
        if records.engine != nil { actions.append(.noteRecords("openssl", note: nil)) }
        relayStep(r, &actions)
    }

    // MARK: A relay tunnel's session

    /// The relay answered 200: plaintext that followed its answer goes to the bridge first (the
    /// session then stays in userspace); when nothing of the tunnel is inside OpenSSL the session
    /// can move onto kTLS.
    private mutating func adopt(_ e: TLSEngine, pending: [UInt8], buffers: OuterBuffers, _ actions: inout [Action]) {
        if !pending.isEmpty {
            let r = OuterRelay(records: userspaceRecords(e), up: buffers.up, down: buffers.down)
            // At most 16 KiB (the tunnel refuses more), a record buffer's worth.
            let count = min(pending.count, OuterSessionMachine.chunk)
            pending.withUnsafeBytes { raw in
                if let p = raw.baseAddress { r.upBuffer.copyMemory(from: p, byteCount: count) }
            }
            r.upFilled = count
            startRelay(r, path: .userspace, note: nil, &actions)
        } else if !e.hasInput {
            moveOntoKernel(e, then: .relay(buffers), &actions)
        } else {
            afterKernel(e, installed: false, note: "tunnel: data after the relay's answer was already inside OpenSSL",
                        then: .relay(buffers), &actions)
        }
    }

    private mutating func startRelay(_ r: OuterRelay, path: ConnectionSummary.DataPath, note: String?,
                                     _ actions: inout [Action]) {
        state = .relay(r)
        if r.records.engine != nil { actions.append(.noteRecords("openssl", note: nil)) }
        actions.append(.tunnelEstablished(path: path, note: note))
        relayStep(r, &actions)
    }

    // MARK: Engine buffers

    /// Receives into `buffer`'s free room (at most `max` bytes) and pins it; false when there is
    /// no room.
    static func receive(into buffer: ByteBuffer, max: Int, _ actions: inout [Action]) -> Bool {
        let target = buffer.writePointer
        let count = Swift.min(buffer.contiguousWritable, max)
        guard count > 0 else { return false }
        buffer.pinned = true
        actions.append(.receive(.outer, into: target, count: count))
        return true
    }

    /// Sends all of `buffer`'s readable bytes to the outer socket and pins it; false when empty.
    static func send(_ buffer: ByteBuffer, _ actions: inout [Action]) -> Bool {
        let count = buffer.readable
        guard count > 0 else { return false }
        buffer.pinned = true
        actions.append(.send(.outer, from: UnsafeRawPointer(buffer.readPointer), count: count))
        return true
    }
}
