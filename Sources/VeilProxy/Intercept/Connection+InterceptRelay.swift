import VeilRuntime
import VeilTLS

/// The owner's side of the userspace relay (InterceptRelayMachine): completions and deadlines
/// become its events, its actions the runtime's typed operations. Nothing is decided here. One
/// action list per worker, lent to the event being handled and given back emptied (keeping its
/// room): handling an event allocates nothing. With one leg on kTLS the mixed relay runs instead
/// (Connection+MixedTransfer).
extension Connection {
    /// InterceptMachine handed the legs over: the relay takes them, with what is in flight on them.
    func startRelay(client: TLSLeg, upstream: TLSLeg) {
        guard !phase.isOver else { return }
        summary.path = .userspace
        summary.clientPath = .userspace
        summary.upstreamPath = .userspace
        let buffer = plaintext ?? worker.recordBuffers.take()
        plaintext = buffer
        let now = MonotonicClock.now()
        let settings = InterceptRelayMachine.Settings(idleTimeout: config.idleTimeout, recordLayer: config.recordLayer,
                                                      logRecords: config.recordLog == .records,
                                                      upstreamHandshakeNanos: upstreamHandshakeNanos)
        phase = .interceptRelay(Held(InterceptRelayMachine(settings: settings, client: client, upstream: upstream,
                                                           plaintext: buffer, now: now)))
        relayEvent(.start(now: now))
    }

    /// Feeds one event to the relay machine and performs what it asks.
    func relayEvent(_ event: InterceptRelayMachine.Event) {
        guard case .interceptRelay(let held) = phase else { return }
        var actions = actionLists.takeInterceptRelay()
        held.machine.handle(event, &actions)
        var i = 0
        while i < actions.count {
            // Moved out, not copied (see transferEvent).
            var action = InterceptRelayMachine.Action.setDeadline(0)
            swap(&action, &actions[i])
            i += 1
            perform(action)
        }
        actionLists.giveBack(interceptRelay: &actions)
    }

    /// A completion of one of the relay's operations.
    func relayCompleted(_ op: Op, result: Int32) {
        switch op {
        case .clientRecv: relayEvent(.received(.client, result: result, now: MonotonicClock.now()))
        case .upstreamRecv: relayEvent(.received(.upstream, result: result, now: MonotonicClock.now()))
        case .clientSend: relayEvent(.sent(.client, result: result, now: MonotonicClock.now()))
        case .upstreamSend: relayEvent(.sent(.upstream, result: result, now: MonotonicClock.now()))
        case .clientShutdown: relayEvent(.shutDown(.client))
        case .upstreamShutdown: relayEvent(.shutDown(.upstream))
        default: break
        }
    }

    private func perform(_ action: InterceptRelayMachine.Action) {
        switch action {
        case .receive(let side, let buffer):
            loop.recv(handle, op: Op.receive(side).rawValue, fd: fd(side), into: buffer)
        case .send(let side, let buffer):
            loop.send(handle, op: Op.send(side).rawValue, fd: fd(side), from: buffer)
        case .shutdownWrite(let side, let authenticated):
            // A front carrying that socket learns that the end passed on was authenticated.
            if authenticated { front(side)?.bridgeEndAuthenticated = true }
            loop.shutdownWrite(handle, op: Op.shutdown(side).rawValue, fd: fd(side))
        case .release(let side):
            if case .interceptRelay(let held) = phase { held.machine.relay?.leg(side).engine.releaseIdleMemory() }
        case .releaseScratch(let buffer):
            ScratchPages.release(buffer, count: worker.recordBuffers.bufferSize)
        case .setDeadline(let at):
            phaseDeadline = at
            applyDeadline()
        case .logRecord(let direction, let record):
            worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                               direction: direction, summary: record))
        case .note(let note):
            noted(note)
        case .close(let reason):
            finish(reason)
        }
    }
}
