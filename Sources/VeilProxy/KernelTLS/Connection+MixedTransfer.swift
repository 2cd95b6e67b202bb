import VeilRuntime
import VeilTLS

/// The owner's side of the mixed relay (MixedRelayMachine: one leg on kTLS, the other's engine
/// still running): completions and deadlines become its events, its actions the runtime's typed
/// operations. Nothing is decided here. One action list per worker, lent to the event being
/// handled and given back emptied (keeping its room).
///
/// Ops: the userspace leg's socket uses its side's `Recv`/`Send`/`Shutdown`; the kTLS socket
/// `ktlsRecv` (recvmsg of a record), `ktlsSend` (plaintext, or the close_notify record) and
/// `ktlsShutdown`.
extension Connection {
    /// InterceptMachine handed over: `kernel`'s socket is on kTLS, `userspace` keeps its engine.
    func startMixedRelay(kernel: TransferSide, userspace: TLSLeg) {
        guard !phase.isOver else { return }
        let buffer = plaintext ?? worker.recordBuffers.take()
        plaintext = buffer
        let now = MonotonicClock.now()
        guard let relay = MixedRelay(kernel: kernel, userspace: userspace, plaintext: buffer,
                                     logRecords: config.recordLog == .records, now: now) else {
            finish(CloseReason(.error, "out of memory for a kTLS leg"))
            return
        }
        summary.path = .userspace
        summary.clientPath = kernel == .client ? .ktls : .userspace
        summary.upstreamPath = kernel == .client ? .userspace : .ktls
        let settings = MixedRelayMachine.Settings(idleTimeout: config.idleTimeout, logRecords: config.recordLog == .records)
        phase = .mixedRelay(Held(MixedRelayMachine(settings: settings, relay: relay, now: now)))
        mixedEvent(.start(now: now))
    }

    /// Feeds one event to the mixed relay's machine and performs what it asks.
    func mixedEvent(_ event: MixedRelayMachine.Event) {
        guard case .mixedRelay(let held) = phase, let kernel = held.machine.relay?.kernelSide else { return }
        var actions = actionLists.takeMixedRelay()
        held.machine.handle(event, &actions)
        var i = 0
        while i < actions.count {
            // Moved out, not copied (see transferEvent).
            var action = MixedRelayMachine.Action.shutdownKernelWrite
            swap(&action, &actions[i])
            i += 1
            perform(action, kernel: kernel)
        }
        actionLists.giveBack(mixedRelay: &actions)
    }

    /// A completion of one of the mixed relay's operations.
    func mixedCompleted(_ op: Op, result: Int32) {
        switch op {
        case .clientRecv, .upstreamRecv: mixedEvent(.received(result: result, now: MonotonicClock.now()))
        case .clientSend, .upstreamSend: mixedEvent(.sent(result: result, now: MonotonicClock.now()))
        case .clientShutdown, .upstreamShutdown: mixedEvent(.shutDown)
        case .ktlsRecv:
            var type: UInt8 = 0
            if case .mixedRelay(let held) = phase, let relay = held.machine.relay { type = relay.incoming.type }
            mixedEvent(.recordReceived(result: result, type: type, now: MonotonicClock.now()))
        case .ktlsSend: mixedEvent(.kernelSent(result: result, now: MonotonicClock.now()))
        case .ktlsShutdown: mixedEvent(.kernelShutDown)
        default: break
        }
    }

    private func perform(_ action: MixedRelayMachine.Action, kernel: TransferSide) {
        let userspace = kernel.other
        let userspaceFD = fd(userspace)
        let kernelFD = fd(kernel)
        switch action {
        case .receive(let buffer):
            loop.recv(handle, op: Op.receive(userspace).rawValue, fd: userspaceFD, into: buffer)
        case .send(let buffer):
            loop.send(handle, op: Op.send(userspace).rawValue, fd: userspaceFD, from: buffer)
        case .shutdownWrite(let authenticated):
            // A front carrying that socket learns that the end passed on was authenticated.
            if authenticated { front(userspace)?.bridgeEndAuthenticated = true }
            loop.shutdownWrite(handle, op: Op.shutdown(userspace).rawValue, fd: userspaceFD)
        case .receiveRecord(let message):
            loop.receiveRecord(handle, op: Op.ktlsRecv.rawValue, fd: kernelFD, into: message)
        case .sendPlaintext(let bytes, let count):
            loop.send(handle, op: Op.ktlsSend.rawValue, fd: kernelFD, from: bytes, count: count)
        case .sendCloseNotify(let message):
            loop.sendRecord(handle, op: Op.ktlsSend.rawValue, fd: kernelFD, type: TLSContentType.alert.rawValue,
                            bytes: TLSAlert.closeNotify.bytes, using: message)
        case .shutdownKernelWrite:
            loop.shutdownWrite(handle, op: Op.ktlsShutdown.rawValue, fd: kernelFD)
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
