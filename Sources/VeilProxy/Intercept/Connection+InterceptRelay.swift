import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The relay of an intercepted connection once both handshakes are done (InterceptMachine hands
/// the legs over): SSL_read on one leg, SSL_write on the other, with bounded buffers (a full
/// output buffer stops reading from the other side); Veil's own record layer after the takeover
/// (Connection+RecordLayer); its ends (Connection+Ends). With one leg on kTLS the mixed relay
/// runs instead (Connection+MixedTransfer).
extension Connection {
    /// Room an engine's output must have before another record is sealed into it.
    static let recordRoom = 17 << 10
    private static let plaintextChunk = 16 << 10

    // MARK: Reading and writing sockets

    /// The socket a leg runs on.
    func socket(_ leg: TLSLeg) -> Int32 { leg.isClient ? clientFD : upstreamFD }

    /// Reads as much as fits into the leg's engine input.
    func receive(_ leg: TLSLeg) {
        guard !leg.receiving, !leg.eof else { return }
        let op = leg.isClient ? Op.clientRecv : .upstreamRecv
        guard loop.recv(handle, op: op.rawValue, fd: socket(leg), into: leg.engine.inbound) > 0 else { return }
        leg.receiving = true
    }

    func legReceived(_ leg: TLSLeg?, _ result: Int32) {
        guard let leg else { return }
        leg.receiving = false
        leg.engine.inbound.pinned = false
        // A fatal alert is on its way out to one peer: nothing read now matters.
        if phase == .lingering { return }
        if result == -EAGAIN || result == -EINTR {
            continueIntercept(after: leg)
            return
        }
        let isClient = leg === clientLeg
        if result < 0 {
            finish(gone(client: isClient, result: result))
            return
        }
        if result == 0 {
            leg.eof = true
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            lastActivity = MonotonicClock.now()
            scan(leg, UnsafeRawBufferPointer(start: start, count: Int(result)), inbound: true)
            guard phase != .closing else { return }
        }
        continueIntercept(after: leg)
    }

    /// Sends what the leg's engine has produced; after a close was queued and everything is
    /// out, shuts the socket's write side.
    func flush(_ leg: TLSLeg) {
        guard !leg.sending, phase != .closing else { return }
        let op = leg.isClient ? Op.clientSend : .upstreamSend
        let sent = loop.send(handle, op: op.rawValue, fd: socket(leg), from: leg.engine.outbound)
        if sent > 0 {
            leg.sending = true
            leg.sendingCount = sent
        } else if leg.closeQueued && !leg.writeShut {
            leg.writeShut = true
            writeSideShutting(leg)
            loop.shutdownWrite(handle, op: (leg.isClient ? Op.clientShutdown : Op.upstreamShutdown).rawValue,
                               fd: socket(leg))
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
        case .interceptRelay:
            relay()
        case .mixedRelay:
            mixedRelay()
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
        guard logAll || (inbound && phase != .interceptRelay) else { return }
        do {
            if inbound {
                try leg.inScanner.feed(bytes) { record in recordSeen(leg, record, inbound: true) }
            } else {
                try leg.outScanner.feed(bytes) { record in recordSeen(leg, record, inbound: false) }
            }
        } catch {
            finish(CloseReason(.handshakeFailed, Connection.describe(error, from: leg === clientLeg ? .client : .server)))
        }
    }

    private func recordSeen(_ leg: TLSLeg, _ record: RecordScanner.Record, inbound: Bool) {
        // Which end of this leg's TLS session wrote the record.
        let sender: TLSFlowTracker.Side = ((leg === clientLeg) == inbound) ? .client : .server
        guard config.recordLog == .records else { return }
        worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                           direction: inbound ? leg.inbound : leg.outbound,
                                           summary: leg.describe(record, from: sender)))
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
            receive(leg)
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
