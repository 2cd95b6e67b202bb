import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// After both handshakes: the relay it is to be, and the kTLS switch (see InterceptMachine).
extension InterceptMachine {
    mutating func handshakesDone(_ h: InterceptHandshake, now: UInt64, _ actions: inout [Action]) {
        if settings.viaListener && settings.ktls != .off && settings.kernelTLSAvailable {
            // One socket carries one kTLS session: here the kernel has the listener's outer one.
            actions.append(.note(.kernelTLS("client leg is inside the HTTPS listener's TLS")))
            startRelay(h.client, h.upstream, &actions)
        } else if settings.ktls != .off && settings.kernelTLSAvailable {
            let k = InterceptKernelSwitch(client: h.client, upstream: h.upstream, deadline: h.deadline,
                                          upstreamHandshakeNanos: h.upstreamNanos)
            state = .kernelSwitch(k)
            continueKernelSwitch(k, now: now, &actions)
        } else {
            if settings.ktls == .off { actions.append(.note(.kernelTLS("off"))) }
            startRelay(h.client, h.upstream, &actions)
        }
    }

    private mutating func startRelay(_ client: TLSLeg, _ upstream: TLSLeg, _ actions: inout [Action]) {
        state = .handedOver
        actions.append(.startRelay(client: client, upstream: upstream))
    }

    /// Advances the switch; again after each completion while it runs.
    private mutating func continueKernelSwitch(_ k: InterceptKernelSwitch, now: UInt64, _ actions: inout [Action]) {
        let client = k.client
        let upstream = k.upstream
        if upstream.receiving || client.sending || upstream.sending { return }
        if !upstream.drained {
            upstream.wouldBlock = false
            // A TLS 1.3 server sends its tickets once it has our Finished, which may be after the
            // client's handshake is done: wait for the first one a little (about the upstream
            // handshake's own duration, 2-50 ms), so it can still reach the cache.
            if k.ticketWait == .notStarted {
                if upstream.engine.versionCode == 0x0304 && upstream.tickets == 0 {
                    k.ticketWait = .waiting(until: now &+ min(max(k.upstreamHandshakeNanos, 2_000_000), 50_000_000))
                    actions.append(.setDeadline(k.nextDeadline))
                } else {
                    k.ticketWait = .over
                }
            }
            var waitForTicket = false
            if case .waiting(let until) = k.ticketWait, upstream.tickets == 0, now < until { waitForTicket = true }
            // Mid-record: wait for the rest. At a boundary: only what is already there, unless
            // still waiting for a first ticket.
            let wait = !upstream.inScanner.atBoundary || waitForTicket
            receive(upstream, exact: true, dontWait: !wait, &actions)
            return
        }
        if k.ticketWait != .over {
            k.ticketWait = .over
            actions.append(.setDeadline(k.nextDeadline))
        }
        if client.engine.outbound.readable > 0 || upstream.engine.outbound.readable > 0 {
            flush(client, &actions)
            flush(upstream, &actions)
            return
        }
        install(k, &actions)
    }

    mutating func switchReceived(_ k: InterceptKernelSwitch, _ side: TransferSide, result: Int32, now: UInt64,
                                 _ actions: inout [Action]) {
        let leg = k.leg(side)
        leg.receiving = false
        leg.engine.inbound.pinned = false
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            leg.wouldBlock = true
        } else if result < 0 {
            gone(side, result: result, &actions)
            return
        } else if result == 0 {
            // The userspace relay passes the close on.
            leg.eof = true
            startRelay(k.client, k.upstream, &actions)
            return
        } else {
            let input = leg.engine.inbound
            let start = input.base + input.writeIndex
            input.didWrite(Int(result))
            scanSwitchInput(k, side, UnsafeRawBufferPointer(start: start, count: Int(result)), &actions)
            guard case .kernelSwitch = state else { return }
        }
        guard side == .upstream else {
            continueKernelSwitch(k, now: now, &actions)
            return
        }
        if leg.wouldBlock && leg.inScanner.atBoundary {
            leg.drained = true
        } else if leg.inScanner.atBoundary {
            // A whole record is in: let OpenSSL take it (tickets are cached from its callback).
            reading: while true {
                switch leg.engine.read(into: k.scratch, max: InterceptKernelSwitch.scratchSize) {
                case .data(let n):
                    var offset = 0
                    while offset < n {
                        let w = k.client.engine.write(k.scratch + offset, count: n - offset)
                        if w == 0 { break reading }
                        offset += w
                    }
                case .needsInput:
                    break reading
                case .closed, .failed:
                    // Upstream is closing or broken before the switch: stay in userspace, where
                    // closing is handled.
                    abandon(k, "upstream closed during the kTLS switch", &actions)
                    return
                }
            }
        }
        continueKernelSwitch(k, now: now, &actions)
    }

    mutating func switchSent(_ k: InterceptKernelSwitch, _ side: TransferSide, result: Int32, now: UInt64,
                             _ actions: inout [Action]) {
        guard legSent(k.leg(side), side, result: result, &actions) else { return }
        continueKernelSwitch(k, now: now, &actions)
    }

    /// Upstream records during the switch: framed (and logged with `--record-log records`).
    private mutating func scanSwitchInput(_ k: InterceptKernelSwitch, _ side: TransferSide, _ bytes: UnsafeRawBufferPointer,
                                          _ actions: inout [Action]) {
        let leg = k.leg(side)
        let log = settings.logRecords
        var lines: [(RecordDirection, TLSRecordSummary)] = []
        do {
            try leg.inScanner.feed(bytes) { record throws(TLSParseError) in
                if log { lines.append((leg.inbound, leg.describe(record, from: side == .client ? .client : .server))) }
            }
        } catch {
            close(.invalidTLS(error, from: side, notTLS: false), &actions)
            return
        }
        for (direction, line) in lines { actions.append(.logRecord(direction, line)) }
    }

    mutating func switchDeadlinePassed(_ k: InterceptKernelSwitch, now: UInt64, _ actions: inout [Action]) {
        if case .waiting(let until) = k.ticketWait, now >= until {
            // No ticket came in time: stop waiting and switch without one.
            k.ticketWait = .over
            if k.upstream.receiving && k.upstream.inScanner.atBoundary { actions.append(.cancelReceive(.upstream)) }
            actions.append(.setDeadline(k.nextDeadline))
            return
        }
        if now >= k.deadline {
            close(.handshakeTimeout(seconds: settings.handshakeTimeout), &actions)
        } else {
            actions.append(.setDeadline(k.nextDeadline))
        }
    }

    /// The switch cannot happen: the userspace relay runs, unless kTLS is required.
    private mutating func abandon(_ k: InterceptKernelSwitch, _ why: String, _ actions: inout [Action]) {
        actions.append(.note(.kernelTLS(why)))
        if settings.ktls == .require {
            close(.kernelTLSRequired(why), &actions)
        } else {
            startRelay(k.client, k.upstream, &actions)
        }
    }

    /// Derives each leg's keys (decided per leg: a cipher or version without a kernel offload,
    /// or a socket that is not TCP, stays in userspace) and installs them one leg at a time.
    private mutating func install(_ k: InterceptKernelSwitch, _ actions: inout [Action]) {
        let clientKeys = settings.clientIsTCP ? k.client.engine.kernelKeys()
            : .unsupported("not a TCP socket (a socketpair)")
        let upstreamKeys = settings.upstreamIsTCP ? k.upstream.engine.kernelKeys()
            : .unsupported("the relay tunnel's socketpair, not a TCP socket")
        var plan = InterceptKernelSwitch.Install(pending: [], notes: [])
        for (side, keys) in [(TransferSide.client, clientKeys), (.upstream, upstreamKeys)] {
            switch keys {
            case .keys(let tx, let rx): plan.pending.append(.init(side: side, transmit: tx, receive: rx))
            case .unsupported(let why): plan.notes.append("\(side.name) leg: \(why)")
            }
        }
        if !plan.notes.isEmpty && settings.ktls == .require {
            close(.kernelTLSRequired(plan.notes.joined(separator: "; ")), &actions)
            return
        }
        k.install = plan
        installNext(k, &actions)
    }

    private mutating func installNext(_ k: InterceptKernelSwitch, _ actions: inout [Action]) {
        guard var plan = k.install else { return }
        if !plan.pending.isEmpty {
            let next = plan.pending.removeFirst()
            k.install = plan
            actions.append(.installKernelTLS(next.side, transmit: next.transmit, receive: next.receive))
            return
        }
        k.install = nil
        let why = plan.notes.joined(separator: "; ")
        if !plan.notes.isEmpty { actions.append(.note(.kernelTLS(why))) }
        guard let first = plan.installed.first else {
            abandon(k, why, &actions)
            return
        }
        // The kernel has these sessions now; OpenSSL's state for them is no longer needed.
        for side in plan.installed { k.leg(side).engine.handOver() }
        state = .handedOver
        if plan.installed.count == 1 {
            actions.append(.startMixedRelay(kernel: first, userspace: k.leg(first.other)))
        } else {
            actions.append(.startKernelSplice)
        }
    }

    mutating func kernelTLSInstalled(_ side: TransferSide, error: String?, now: UInt64, _ actions: inout [Action]) {
        guard case .kernelSwitch(let k) = state, var plan = k.install else { return }
        if let error {
            if !plan.installed.isEmpty {
                close(.kernelTLSHalfInstalled(side, error), &actions)
                return
            }
            plan.notes.append("\(side.name) leg: \(error)")
            if settings.ktls == .require {
                close(.kernelTLSRequired(plan.notes.joined(separator: "; ")), &actions)
                return
            }
        } else {
            plan.installed.append(side)
        }
        k.install = plan
        installNext(k, &actions)
    }
}
