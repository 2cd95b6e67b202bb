import VeilRuntime

/// The link's deadline (backoff, set-up, keepalive), the transport's end, shutdown and loss.
extension RelayLinkMachine {
    mutating func deadline(now: UInt64, awaitingSettingsAck: Bool, _ actions: inout [Action]) {
        switch state {
        case .waiting:
            connect(now: now, &actions)
        case .connecting, .handshake, .draining(.none):
            lose("relay \(settings.relay): no TLS connection within \(settings.connectTimeout) s", &actions)
        case .up(var k), .draining(.some(var k)):
            // SETTINGS_TIMEOUT (RFC 9113 section 6.5.3): our SETTINGS went out with the preface
            // at up, so at the first keepalive deadline the relay has had one keepalive
            // interval to acknowledge them (more than a round trip, or it answers no PING either).
            if awaitingSettingsAck {
                lose("relay \(settings.relay): SETTINGS not acknowledged within \(settings.keepalive) s", &actions)
                return
            }
            if k.unanswered >= settings.deadAfter {
                lose("relay \(settings.relay): \(k.unanswered) PINGs unanswered (\(settings.keepalive) s apart)", &actions)
                return
            }
            k.unanswered += 1
            if case .up = state { state = .up(k) } else { state = .draining(k) }
            actions.append(.sendPing)
            actions.append(.setDeadline(now &+ settings.keepalive.nanoseconds))
        case .created, .closed:
            break
        }
    }

    mutating func transportEnded(_ end: TransportEnd, _ actions: inout [Action]) {
        let relay = settings.relay
        switch end {
        case .readError(let code): lose("relay \(relay): read: \(SystemError.message(of: -code))", &actions)
        case .closed: lose("relay \(relay) closed the connection", &actions)
        case .closeNotify: lose("relay \(relay) ended TLS (close_notify)", &actions)
        case .tlsReadFailed(let why): lose("relay \(relay): TLS read: \(why)", &actions)
        case .sendError(let code): lose("relay \(relay): send: \(SystemError.message(of: -code))", &actions)
        }
    }

    /// The worker shuts down: once up, GOAWAY and drain; before, nothing to drain (the connect
    /// or handshake under way is abandoned), closed once nothing waits for it.
    mutating func shutdown(_ actions: inout [Action]) {
        switch state {
        case .up(let k):
            state = .draining(k)
            actions.append(.retire)
            actions.append(.sendGoaway)
        case .created, .waiting, .connecting, .handshake:
            state = .draining(nil)
            actions.append(.retire)
        case .draining, .closed:
            break
        }
    }

    /// The connection is lost, whatever state it was in (nothing once closed).
    mutating func lose(_ reason: String, _ actions: inout [Action]) {
        if case .closed = state { return }
        let wasUp = isUp
        state = .closed(.lost(reason))
        actions.append(.lost(reason, wasUp: wasUp))
    }
}
