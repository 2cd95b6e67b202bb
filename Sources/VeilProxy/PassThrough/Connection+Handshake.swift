import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The handshake relay: both directions record by record through the TLS flow tracker and the
/// record logger, until the tracker sees the handshake end. Then passthrough switches to splice,
/// unless every record is to be logged (`--record-log records`), which keeps relaying here.
extension Connection {
    func beginHandshake() {
        guard let request, let upBuffer = requestBuffer else {
            finish(CloseReason(.error, "internal: handshake relay started without a request"))
            return
        }
        phase = .handshake
        armDeadline(after: config.handshakeTimeout)
        let size = worker.recordBuffers.bufferSize
        // The request buffer becomes the client->upstream record buffer; pipelined bytes after
        // the request head stay in it, in order.
        requestBuffer = nil
        let pumpUp = RecordPump(buffer: upBuffer, capacity: size, sourceFD: clientFD, destinationFD: upstreamFD,
                                side: .client, recvOp: .clientRecv, sendOp: .upstreamSend)
        let pipelined = requestFilled - request.headerLength
        if pipelined > 0 { upBuffer.copyMemory(from: upBuffer + request.headerLength, byteCount: pipelined) }
        pumpUp.filled = pipelined
        let pumpDown = RecordPump(buffer: worker.recordBuffers.take(), capacity: size, sourceFD: upstreamFD,
                                  destinationFD: clientFD, side: .server, recvOp: .upstreamRecv, sendOp: .clientSend)
        up = pumpUp
        down = pumpDown
        // Pipelined bytes are parsed at once, and may end the connection (not TLS, a bad
        // ClientHello): readNext does nothing on a closing connection.
        readNext(pumpUp)
        readNext(pumpDown)
    }

    /// Continues a pump: parses what it holds, or reads exactly what the current record lacks.
    func readNext(_ p: RecordPump) {
        guard !p.stopped, phase != .closing else { return }
        while true {
            let wanted = p.bytesWanted
            if wanted > 0 {
                guard p.filled + wanted <= p.capacity else {
                    // Only held fragments can get here: one record always fits.
                    sendAlertAndClose(CloseReason(.handshakeFailed,
                        "client sent a ClientHello in fragments of more than \(p.capacity) bytes in all"), alert: 50)
                    return
                }
                p.receiving = true
                loop.recv(handle, op: p.recvOp.rawValue, fd: p.sourceFD, into: p.buffer + p.filled, count: wanted)
                return
            }
            if p.recordLength == 0 {
                guard parseHeader(p) else { return }
                continue
            }
            guard processRecord(p) else { return }
        }
    }

    private func parseHeader(_ p: RecordPump) -> Bool {
        do {
            let header = try TLSRecordHeader(bytes: UnsafeRawBufferPointer(start: p.record, count: TLSRecordHeader.size))
            p.recordLength = TLSRecordHeader.size + header.length
            return true
        } catch {
            let kind: CloseReason.Kind = (p.side == .client && p.records == 0) ? .notTLS : .handshakeFailed
            finish(CloseReason(kind, Connection.describe(error, from: p.side)))
            return false
        }
    }

    func pumpReceived(_ pump: RecordPump?, _ result: Int32) {
        guard let p = pump else { return }
        p.receiving = false
        if result > 0 { p.filled += Int(result) }
        if phase == .lingering { return }
        if phase == .switching {
            continueSwitch()
            return
        }
        if result > 0 {
            lastActivity = MonotonicClock.now()
            readNext(p)
            return
        }
        if result == -EAGAIN || result == -EINTR {
            readNext(p)
            return
        }
        if result == 0 { noteEnd(client: p.side == .client, p.filled > 0 ? .finMidRecord : .tcpFin) }
        if result == 0 && phase == .relayingRecords {
            halfClose(p)
            return
        }
        if phase == .handshake, let (from, alert) = lastAlert {
            // Whoever closes (or resets) first, the alert is blamed on the side that sent it.
            let sender = from == .client ? "client" : "upstream"
            let closer = p.side == .client ? "client" : "upstream"
            finish(CloseReason(.handshakeFailed, from == p.side ? "\(sender) sent alert \(alert) and closed"
                                                                : "\(sender) sent alert \(alert); then the \(closer) closed"))
            return
        }
        if result == 0 {
            let partial = p.filled > 0 ? " (in the middle of a record: \(p.filled) of \(max(p.recordLength, 5)) bytes)" : ""
            finish(CloseReason(p.side == .client ? .clientGone : .upstreamGone,
                               "\(p.side == .client ? "client" : "upstream") closed during the TLS handshake\(partial)"))
            return
        }
        finish(gone(client: p.side == .client, result: result))
    }

    /// Judges, logs and forwards the current record. Returns true when the record was held back
    /// (a ClientHello in fragments) and the next one is to be read.
    private func processRecord(_ p: RecordPump) -> Bool {
        let body = UnsafeRawBufferPointer(start: p.record + TLSRecordHeader.size,
                                          count: p.recordLength - TLSRecordHeader.size)
        let typeByte = p.record.load(as: UInt8.self)
        let recordSummary: TLSRecordSummary
        if tracker.isHandshakeComplete {
            recordSummary = TLSRecordSummary(contentType: TLSContentType(rawValue: typeByte) ?? .applicationData,
                                             length: body.count, isOpaque: true)
        } else {
            do {
                recordSummary = try tracker.consume(type: TLSContentType(rawValue: typeByte) ?? .applicationData,
                                                    body: body, from: p.side)
            } catch {
                let kind: CloseReason.Kind = (p.side == .client && p.records == 0) ? .notTLS : .handshakeFailed
                finish(CloseReason(kind, Connection.describe(error, from: p.side)))
                return false
            }
        }
        p.records += 1
        if let alert = recordSummary.alert { lastAlert = (p.side, alert.description) }
        if config.recordLog == .records {
            worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                               direction: p.inbound, summary: recordSummary))
        }
        if p.side == .client {
            if tracker.awaitingClientHello {
                // Nothing of a ClientHello is forwarded before all of it is here and judged.
                p.hold()
                return true
            }
            guard clientHellosArrived(p) else { return false }
        }
        if p.side == .server, summary.tlsVersion == nil, let version = tracker.version {
            summary.tlsVersion = TLSNames.version(version)
            summary.cipher = tracker.cipherSuite.map(TLSNames.cipherSuite)
            summary.alpn = tracker.alpn
        }
        if config.splitHello && p.side == .client && p.records == 1, let split = splitPoint(p) {
            sendSplitFirst(p, at: split)
            return false
        }
        send(p, from: 0, to: p.held + p.recordLength)
        return false
    }

    /// Judges each ClientHello the client has completed (the first, and a second after a
    /// HelloRetryRequest): its SNI must agree with the CONNECT target.
    private func clientHellosArrived(_ p: RecordPump) -> Bool {
        let hellos = tracker.clientHellos
        while p.hellosChecked < hellos.count {
            let hello = hellos[p.hellosChecked]
            p.hellosChecked += 1
            guard acceptClientSNI(hello) else { return false }
        }
        return true
    }

    /// Records the client's SNI; refuses it (alert, `sni-mismatch`) when it names another host
    /// than the CONNECT request, unless allowed.
    func acceptClientSNI(_ hello: ClientHello) -> Bool {
        summary.sni = hello.serverName
        if let sni = hello.serverName, !config.allowSNIMismatch, let target = request?.target,
           Connection.normalise(sni) != Connection.normalise(target.host) {
            sendAlertAndClose(CloseReason(.sniMismatch,
                "ClientHello SNI \(sni) differs from CONNECT host \(target.host) (allow with --allow-sni-mismatch)"))
            return false
        }
        return true
    }

    /// "client sent non-TLS data (first byte 0x47)", "upstream sent invalid TLS: truncated ...".
    static func describe(_ error: TLSParseError, from side: TLSFlowTracker.Side) -> String {
        if case .notTLS = error { return error.description(from: side) }
        return "\(side == .client ? "client" : "upstream") sent invalid TLS: \(error.description(from: side))"
    }

    static func normalise(_ name: String) -> String {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        return n
    }

    /// Where to cut the first record for --split-hello: inside the server_name value.
    private func splitPoint(_ p: RecordPump) -> Int? {
        guard let hello = tracker.clientHello, let range = hello.serverNameValueRange else {
            worker.diagnostic("conn \(id): --split-hello: no server_name to split; ClientHello sent whole")
            return nil
        }
        let bodyLength = p.recordLength - TLSRecordHeader.size
        guard range.upperBound <= bodyLength, range.count >= 2 else {
            worker.diagnostic("conn \(id): --split-hello: ClientHello spans records; sent as received")
            return nil
        }
        return range.lowerBound + range.count / 2
    }

    private func sendSplitFirst(_ p: RecordPump, at split: Int) {
        p.splitAt = split
        writeHeader(p.buffer, length: split)
        logForwarded(p, length: split)
        send(p, from: 0, to: TLSRecordHeader.size + split)
    }

    private func sendSplitSecond(_ p: RecordPump) {
        let split = p.splitAt
        let bodyLength = p.recordLength - TLSRecordHeader.size
        p.splitAt = 0
        // The first part is on the wire, so its last five bytes may hold the second header.
        writeHeader(p.buffer + split, length: bodyLength - split)
        logForwarded(p, length: bodyLength - split)
        send(p, from: split, to: p.recordLength)
    }

    private func writeHeader(_ at: UnsafeMutableRawPointer, length: Int) {
        at.storeBytes(of: 22, as: UInt8.self)
        at.storeBytes(of: 0x03, toByteOffset: 1, as: UInt8.self)
        at.storeBytes(of: 0x01, toByteOffset: 2, as: UInt8.self)
        at.storeBytes(of: UInt8(length >> 8), toByteOffset: 3, as: UInt8.self)
        at.storeBytes(of: UInt8(length & 0xff), toByteOffset: 4, as: UInt8.self)
    }

    private func logForwarded(_ p: RecordPump, length: Int) {
        guard config.recordLog == .records else { return }
        let s = TLSRecordSummary(contentType: .handshake, length: length,
                                 messages: ["ClientHello fragment (split-hello)"])
        worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                           direction: p.outbound, summary: s))
    }

    func send(_ p: RecordPump, from: Int, to: Int) {
        p.sending = true
        p.sendOffset = from
        p.sendEnd = to
        loop.send(handle, op: p.sendOp.rawValue, fd: p.destinationFD, from: p.buffer + from, count: to - from)
    }

    func pumpSent(_ pump: RecordPump?, _ result: Int32) {
        guard let p = pump else { return }
        if result == -EAGAIN || result == -EINTR {
            send(p, from: p.sendOffset, to: p.sendEnd)
            return
        }
        guard result > 0 else {
            p.sending = false
            finish(gone(client: p.side != .client, result: result))
            return
        }
        p.sendOffset += Int(result)
        if p.side == .client { summary.bytesUp += UInt64(result) } else { summary.bytesDown += UInt64(result) }
        if p.sendOffset < p.sendEnd {
            loop.send(handle, op: p.sendOp.rawValue, fd: p.destinationFD,
                      from: p.buffer + p.sendOffset, count: p.sendEnd - p.sendOffset)
            return
        }
        p.sending = false
        lastActivity = MonotonicClock.now()
        if p.splitAt > 0 {
            sendSplitSecond(p)
            p.sending = true
            return
        }
        if phase == .switching {
            if p.recordLength > 0 { p.consumeRecord() } else { p.filled = 0 }
            continueSwitch()
            return
        }
        p.consumeRecord()
        if tracker.isHandshakeComplete && phase == .handshake {
            handshakeFinished()
            return
        }
        readNext(p)
    }

    private func handshakeFinished() {
        if config.recordLog == .records {
            phase = .relayingRecords
            summary.path = .userspace
            armDeadline(after: config.idleTimeout)
            lastActivity = MonotonicClock.now()
            if let up, !up.busy { readNext(up) }
            if let down, !down.busy { readNext(down) }
        } else {
            beginSwitch()
        }
    }

    /// After the peer's EOF in the userspace relay: pass the half-close on.
    private func halfClose(_ p: RecordPump) {
        p.eof = true
        if p.filled > 0 {
            finish(CloseReason(p.side == .client ? .clientGone : .upstreamGone,
                               "\(p.side == .client ? "client" : "upstream") closed in the middle of a record"))
            return
        }
        loop.shutdownWrite(handle, op: Op.lingerShutdown.rawValue, fd: p.destinationFD)
        if (up?.eof ?? true) && (down?.eof ?? true) {
            finish(CloseReason(.ok, "both sides closed"))
        }
    }

    /// Refuses the client's handshake with a fatal alert (access_denied unless told otherwise),
    /// then closes.
    func sendAlertAndClose(_ reason: CloseReason, alert description: UInt8 = 49) {
        pendingClose = reason
        up?.stopped = true
        down?.stopped = true
        phase = .lingering
        armDeadline(after: 2)
        guard let alert = stageResponse([21, 0x03, 0x03, 0x00, 0x02, 2, description]) else { return }
        loop.send(handle, op: Op.alertSend.rawValue, fd: clientFD, from: alert, count: responseLength)
    }
}
