import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Moving an intercepted connection onto kernel TLS once both handshakes are done.
///
/// 1. Read whatever upstream records have already arrived (MSG_DONTWAIT, record by record) and
///    let OpenSSL consume them: session tickets reach the cache, early server data goes to the
///    client through its engine. With TLS 1.3 and no ticket yet, wait for the first one for
///    about the upstream handshake's duration (2-50 ms), then switch with or without it.
/// 2. Flush both engines' output.
/// 3. Derive each leg's keys and next sequence numbers (`TLSEngine.kernelKeys`), attach the ULP
///    and install RX then TX on both sockets; the engines are then freed.
/// 4. Splice between the two kTLS sockets (SpliceMachine, see SpliceMachine+KernelTLS). A record
///    that is not application data stops the splice (EINVAL); it is read with recvmsg and
///    handled: close_notify and alerts are passed on, session tickets are consumed, a KeyUpdate
///    ends the connection (the kernel cannot rekey).
extension Connection {
    func handshakesDone() {
        let kernelTLS = interception?.kernelTLS.isAvailable == true
        if summary.front != nil && config.ktls != .off && kernelTLS {
            // One socket carries one kTLS session: here the kernel has the listener's outer one.
            summary.ktlsNote = "client leg is inside the HTTPS listener's TLS"
            startRelay()
        } else if config.ktls != .off && kernelTLS {
            phase = .kernelSwitch
            plaintext = worker.recordBuffers.take()
            continueKernelSwitch()
        } else {
            if config.ktls == .off { summary.ktlsNote = "off" }
            startRelay()
        }
    }

    /// Advances the switch; called again after each completion while `phase == .kernelSwitch`.
    func continueKernelSwitch() {
        guard phase == .kernelSwitch, let client = clientLeg, let upstream = upstreamLeg else { return }
        if upstream.receiving || client.sending || upstream.sending { return }
        if !upstream.drained {
            upstream.wouldBlock = false
            // A TLS 1.3 server sends its tickets once it has our Finished, which may be after the
            // client's handshake is done: wait for the first one a little (about the upstream
            // handshake's own duration, 2-50 ms), so it can still reach the cache.
            let now = MonotonicClock.now()
            if ticketWaitDeadline == 0 && upstream.engine.versionCode == 0x0304 && upstream.tickets == 0 {
                ticketWaitDeadline = now + min(max(upstreamHandshakeNanos, 2_000_000), 50_000_000)
                applyDeadline()
            }
            let waitForTicket = ticketWaitDeadline > 1 && upstream.tickets == 0 && now < ticketWaitDeadline
            // Mid-record: wait for the rest. At a boundary: only what is already there, unless
            // still waiting for a first ticket.
            let wait = !upstream.inScanner.atBoundary || waitForTicket
            receive(upstream, exact: true, dontWait: !wait)
            return
        }
        ticketWaitDeadline = 1
        if client.engine.outbound.readable > 0 || upstream.engine.outbound.readable > 0 {
            flush(client)
            flush(upstream)
            return
        }
        installKernelTLS(client: client, upstream: upstream)
    }

    /// During the switch: one upstream record has arrived (or nothing was waiting).
    func switchReceived(_ leg: TLSLeg) {
        guard leg === upstreamLeg, let plaintext, let client = clientLeg else { return }
        if leg.wouldBlock && leg.inScanner.atBoundary {
            leg.drained = true
        } else if leg.inScanner.atBoundary {
            // A whole record is in: let OpenSSL take it (tickets are cached from its callback).
            loop: while true {
                switch leg.engine.read(into: plaintext, max: 16 << 10) {
                case .data(let n):
                    var offset = 0
                    while offset < n {
                        let w = client.engine.write(plaintext + offset, count: n - offset)
                        if w == 0 { break loop }
                        offset += w
                    }
                case .needsInput:
                    break loop
                case .closed, .failed:
                    // Upstream is closing or broken before the switch: stay in userspace, where
                    // closing is handled.
                    kernelSwitchAbandoned("upstream closed during the kTLS switch")
                    return
                }
            }
        }
        continueKernelSwitch()
    }

    private func kernelSwitchAbandoned(_ why: String) {
        summary.ktlsNote = why
        if config.ktls == .require {
            finish(CloseReason(.ktlsUnavailable, "--ktls require: \(why)"))
        } else {
            startRelay()
        }
    }

    private func installKernelTLS(client: TLSLeg, upstream: TLSLeg) {
        // Decided per leg: a leg whose cipher or version has no kernel offload stays in userspace.
        // A leg whose socket is a socketpair (through the relay tunnel) cannot take kTLS.
        let clientKeys = Socket.isTCP(clientFD) ? client.engine.kernelKeys()
            : .unsupported("not a TCP socket (a socketpair)")
        let upstreamKeys = Socket.isTCP(upstreamFD) ? upstream.engine.kernelKeys()
            : .unsupported("the relay tunnel's socketpair, not a TCP socket")
        var notes: [String] = []
        if case .unsupported(let why) = clientKeys { notes.append("client leg: \(why)") }
        if case .unsupported(let why) = upstreamKeys { notes.append("upstream leg: \(why)") }
        if !notes.isEmpty && config.ktls == .require {
            finish(CloseReason(.ktlsUnavailable, "--ktls require: \(notes.joined(separator: "; "))"))
            return
        }
        let fault = interception?.ktlsSequenceFault ?? 0
        var installed: [TLSLeg] = []
        for (leg, fd, keys, name) in [(client, clientFD, clientKeys, "client"), (upstream, upstreamFD, upstreamKeys, "upstream")] {
            guard case .keys(let tx, let rx) = keys else { continue }
            let refused = interception?.ktlsRefusedLeg == name ? "refused by VEIL_FAULT_KTLS_REFUSE" : nil
            if let error = refused ?? KernelTLS.install(fd: fd, transmit: fault == 0 ? tx : tx.advanced(by: fault), receive: rx) {
                if !installed.isEmpty {
                    finish(CloseReason(.error, "kTLS install failed on the \(name) leg after the other succeeded: \(error)"))
                    return
                }
                notes.append("\(name) leg: \(error)")
                if config.ktls == .require {
                    finish(CloseReason(.ktlsUnavailable, "--ktls require: \(notes.joined(separator: "; "))"))
                    return
                }
                continue
            }
            installed.append(leg)
        }
        if !notes.isEmpty { summary.ktlsNote = notes.joined(separator: "; ") }
        guard !installed.isEmpty else {
            kernelSwitchAbandoned(notes.joined(separator: "; "))
            return
        }
        // The kernel has these sessions now; OpenSSL's state for them is no longer needed.
        for leg in installed { leg.engine.handOver() }
        if installed.count == 1 {
            let onClient = installed[0] === client
            guard let k = KernelLeg(fd: onClient ? clientFD : upstreamFD, isClient: onClient) else {
                finish(CloseReason(.error, "out of memory for a kTLS leg"))
                return
            }
            if onClient { clientLeg = nil } else { upstreamLeg = nil }
            startMixedRelay(kernel: k, userspace: onClient ? upstream : client)
            return
        }
        summary.clientPath = .ktlsSplice
        summary.upstreamPath = .ktlsSplice
        if let p = plaintext { worker.recordBuffers.give(p); plaintext = nil }
        clientLeg = nil
        upstreamLeg = nil
        startTransfer(.kernelTLS(SpliceMachine(.kernelTLS, idleTimeout: config.idleTimeout, pipeSizeLimit: config.pipeSize)))
    }
}
