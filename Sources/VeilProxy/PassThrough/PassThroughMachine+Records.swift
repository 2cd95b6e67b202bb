import VeilTLS

/// Judging, logging and forwarding one handshake record; the ClientHello's checks and
/// `--split-hello`.
extension PassThroughMachine {
    /// Judges, logs and forwards the current record. Returns true when the record was held back
    /// (a ClientHello in fragments) and the next one is to be read.
    mutating func processRecord(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, now: UInt64,
                                _ actions: inout [Action]) -> Bool {
        let body = UnsafeRawBufferPointer(start: s.record + TLSRecordHeader.size,
                                          count: s.recordLength - TLSRecordHeader.size)
        let type = TLSContentType(rawValue: s.record.load(as: UInt8.self)) ?? .applicationData
        let summary: TLSRecordSummary
        if relay.tracker.isHandshakeComplete {
            summary = TLSRecordSummary(contentType: type, length: body.count, isOpaque: true)
        } else {
            do {
                summary = try relay.tracker.consume(type: type, body: body, from: s.direction.sender)
            } catch {
                close(.invalidTLS(s.direction.source, error, firstRecord: s.records == 0), &actions)
                return false
            }
        }
        s.records += 1
        if let alert = summary.alert { relay.lastAlert = (s.direction.source, alert.description) }
        if settings.logRecords { actions.append(.logRecord(s.direction.inbound, summary)) }
        if s.direction == .up {
            if relay.tracker.awaitingClientHello {
                // Nothing of a ClientHello is forwarded before all of it is here and judged.
                s.hold()
                return true
            }
            guard clientHellosArrived(s, relay, now: now, &actions) else { return false }
        } else if !relay.versionNoted, let version = relay.tracker.version {
            relay.versionNoted = true
            actions.append(.note(.handshake(version: TLSNames.version(version),
                                            cipher: relay.tracker.cipherSuite.map(TLSNames.cipherSuite),
                                            alpn: relay.tracker.alpn)))
        }
        if settings.splitHello && s.direction == .up && s.records == 1, let split = splitPoint(s, relay, &actions) {
            s.splitAt = split
            PassThroughMachine.writeHeader(s.buffer, length: split)
            logForwarded(s, length: split, &actions)
            send(s, from: 0, to: TLSRecordHeader.size + split, &actions)
            return false
        }
        send(s, from: 0, to: s.held + s.recordLength, &actions)
        return false
    }

    /// Judges each ClientHello the client has completed (the first, and a second after a
    /// HelloRetryRequest): its SNI must agree with the CONNECT target.
    private mutating func clientHellosArrived(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, now: UInt64,
                                              _ actions: inout [Action]) -> Bool {
        let hellos = relay.tracker.clientHellos
        while s.hellosChecked < hellos.count {
            let hello = hellos[s.hellosChecked]
            s.hellosChecked += 1
            actions.append(.note(.sni(hello.serverName)))
            if let sni = hello.serverName, !settings.allowSNIMismatch,
               !PassThroughMachine.sameHost(sni, settings.targetHost) {
                refuse(relay, .sniMismatch(sni: sni, host: settings.targetHost), alert: PassThroughMachine.accessDenied,
                       now: now, &actions)
                return false
            }
        }
        return true
    }

    /// Whether an SNI names the CONNECT host (case and one trailing dot aside).
    static func sameHost(_ sni: String, _ host: String) -> Bool {
        normalise(sni) == normalise(host)
    }

    static func normalise(_ name: String) -> String {
        var n = name.lowercased()
        if n.hasSuffix(".") { n.removeLast() }
        return n
    }

    /// Where to cut the first record for --split-hello: inside the server_name value.
    private func splitPoint(_ s: HandshakeRecordStream, _ relay: HandshakeRelay, _ actions: inout [Action]) -> Int? {
        guard let hello = relay.tracker.clientHello, let range = hello.serverNameValueRange else {
            actions.append(.diagnostic("--split-hello: no server_name to split; ClientHello sent whole"))
            return nil
        }
        let bodyLength = s.recordLength - TLSRecordHeader.size
        guard range.upperBound <= bodyLength, range.count >= 2 else {
            actions.append(.diagnostic("--split-hello: ClientHello spans records; sent as received"))
            return nil
        }
        return range.lowerBound + range.count / 2
    }

    /// The first part of a split ClientHello is out: the second follows as a record of its own.
    func sendSplitSecond(_ s: HandshakeRecordStream, _ actions: inout [Action]) {
        let split = s.splitAt
        let bodyLength = s.recordLength - TLSRecordHeader.size
        s.splitAt = 0
        // The first part is on the wire, so its last five bytes may hold the second header.
        PassThroughMachine.writeHeader(s.buffer + split, length: bodyLength - split)
        logForwarded(s, length: bodyLength - split, &actions)
        send(s, from: split, to: s.recordLength, &actions)
    }

    private static func writeHeader(_ at: UnsafeMutableRawPointer, length: Int) {
        at.storeBytes(of: 22, as: UInt8.self)
        at.storeBytes(of: 0x03, toByteOffset: 1, as: UInt8.self)
        at.storeBytes(of: 0x01, toByteOffset: 2, as: UInt8.self)
        at.storeBytes(of: UInt8(length >> 8), toByteOffset: 3, as: UInt8.self)
        at.storeBytes(of: UInt8(length & 0xff), toByteOffset: 4, as: UInt8.self)
    }

    private func logForwarded(_ s: HandshakeRecordStream, length: Int, _ actions: inout [Action]) {
        guard settings.logRecords else { return }
        actions.append(.logRecord(s.direction.outbound, TLSRecordSummary(contentType: .handshake, length: length,
                                                                          messages: ["ClientHello fragment (split-hello)"])))
    }
}
