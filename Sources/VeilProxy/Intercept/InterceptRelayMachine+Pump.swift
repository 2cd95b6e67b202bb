import VeilRuntime
import VeilTLS

/// Moving the bytes: after every completion both directions are pumped (decrypt from one leg,
/// encrypt into the other while it has room for another record), both outputs flushed, and
/// each leg read again where there is room.
extension InterceptRelayMachine {
    /// Moves whatever can move in both directions, then reads more where there is room.
    mutating func step(_ r: InterceptRelay, _ actions: inout [Action]) {
        if case .pending = r.records { takeOverRecords(r, &actions) }
        guard pump(r, from: .client, &actions), pump(r, from: .upstream, &actions) else { return }
        if case .pending = r.records {
            // The first upstream data or ticket may have just come through OpenSSL.
            takeOverRecords(r, &actions)
            if case .veil = r.records {
                guard pump(r, from: .client, &actions), pump(r, from: .upstream, &actions) else { return }
            }
        }
        flush(r, .client, &actions)
        flush(r, .upstream, &actions)
        readMore(r, .client, &actions)
        readMore(r, .upstream, &actions)
        if r.up.inputEnded && r.up.sinkClosing && r.down.inputEnded && r.down.sinkClosing {
            close(.bothClosed(authenticated: r.up.sourceEnd == .closeNotify || r.down.sourceEnd == .closeNotify), &actions)
        }
    }

    /// Reads from a side whose input is what holds things up. With more than the largest record
    /// waiting, a whole record is there and the other leg's output is what holds things up (its
    /// send is in flight): reading now would only move (compact) the waiting bytes; the pump
    /// after that send completes makes room and reads again.
    private func readMore(_ r: InterceptRelay, _ side: TransferSide, _ actions: inout [Action]) {
        guard r[side.outgoing].transportOpen,
              r.leg(side).engine.inbound.readable < InterceptRelayMachine.largestRecord else { return }
        receive(r, side, &actions)
    }

    /// Reads as much as fits into the leg's engine input.
    func receive(_ r: InterceptRelay, _ side: TransferSide, _ actions: inout [Action]) {
        guard !r[side.outgoing].receiving, r[side.outgoing].transportOpen else { return }
        let input = r.leg(side).engine.inbound
        _ = input.writePointer  // compacts as the runtime's recv does, before its room is known
        guard input.contiguousWritable > 0 else { return }
        r[side.outgoing].receiving = true
        actions.append(.receive(side, into: input))
    }

    /// Sends what the leg's engine has produced; after an end was queued and everything is out,
    /// shuts the socket's write side.
    func flush(_ r: InterceptRelay, _ side: TransferSide, _ actions: inout [Action]) {
        guard !r[side.incoming].sending else { return }
        let output = r.leg(side).engine.outbound
        if output.readable > 0 {
            r[side.incoming].sending = true
            actions.append(.send(side, from: output))
        } else if case .ending(let authenticated) = r[side.incoming].sink {
            r[side.incoming].shutdownSubmitted()
            actions.append(.shutdownWrite(side, authenticated: authenticated))
        }
    }

    /// Decrypts from `src` and encrypts into the other leg while its output has room for another
    /// record. Returns false when the connection closes or an alert is on its way out.
    mutating func pump(_ r: InterceptRelay, from src: TransferSide, _ actions: inout [Action]) -> Bool {
        if case .veil(let ciphers) = r.records {
            return pumpRecords(r, from: src, opener: ciphers.opener(src), sealer: ciphers.sealer(src.other), &actions)
        }
        let d = src.outgoing
        let source = r.leg(src).engine
        let destination = r.leg(src.other).engine
        let plaintext = r.plaintext
        while r[d].sourceEnd != .closeNotify && destination.outbound.writable >= InterceptRelayMachine.recordRoom {
            // Both directions are pumped after every completion: skip OpenSSL when this side has
            // nothing to give. Before a takeover, OpenSSL gets whole records only.
            let ready: Bool
            if case .pending = r.records {
                ready = source.holdsPlaintextOrRecords || RecordCipher.wholeRecord(in: source.inbound) > 0
            } else {
                ready = source.hasInput
            }
            let result: TLSEngine.ReadResult = ready
                ? source.read(into: plaintext, max: InterceptRelayMachine.plaintextChunk) : .needsInput
            switch result {
            case .data(let n):
                if case .pending(let relayed, let waitUntil) = r.records {
                    r.records = .pending(relayed: relayed &+ n, waitUntil: src == .upstream ? 0 : waitUntil)
                }
                var offset = 0
                while offset < n {
                    let w = destination.write(plaintext + offset, count: n - offset)
                    if w == 0 {
                        close(.outputFull, &actions)
                        return false
                    }
                    offset += w
                }
            case .needsInput:
                if !r[d].transportOpen {
                    // EOF without close_notify: a bare FIN on the other leg (part of a record
                    // still inside or before OpenSSL: it ended mid-record).
                    passUnauthenticatedEnd(r, from: src, midRecord: source.hasInput, &actions)
                }
                return true
            case .closed:
                passCloseNotify(r, from: src, &actions)
            case .failed(let reason):
                sessionFailed(r, src, reason, end: .opensslFailure(reason), &actions)
                return false
            }
        }
        return true
    }
}
