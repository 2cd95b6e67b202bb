import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The owner's side of a transfer machine (TransferMachine): completions and deadlines become
/// `TransferEvent`s, and the machine's `TransferAction`s become the runtime's typed operations.
/// Nothing is decided here. One `[TransferAction]` per worker, lent to the event being handled
/// and given back emptied (keeping its room): handling an event allocates nothing.
///
/// Ops: the record relay's receives and sends are `clientRecv`/`upstreamRecv` and
/// `clientSend`/`upstreamSend` (a poll linked before them is `upPollIn`/`upPollOut`, which only
/// the plain-http request direction uses); a direction's splice in is a poll
/// tagged `SpliceIn` and, when it completes, splice(2) on this thread (non-blocking); its splice
/// out is splice(2) at once, or after a poll tagged `SpliceOut` when the destination was full.
/// No splice goes to io_uring (Linux 6.1 runs every IORING_OP_SPLICE in an io-wq worker: a
/// thread hop per splice; docs/PERFORMANCE.md has the figures), nor a write side's shutdown
/// (shutdown(2) here, for the same reason); kTLS records are `Control`/`ControlSend`.
extension Connection {
    /// Starts `machine` as this connection's transfer.
    func startTransfer(_ machine: TransferMachine) {
        guard !phase.isOver else { return }
        phase = .transfer(Held(machine))
        transferEvent(.start(now: MonotonicClock.now()))
    }

    /// Feeds one event to the transfer machine and performs what it asks. The worker's one
    /// action list is taken for the event (so the loop below touches a local array, not a class
    /// property, on every step) and given back emptied, keeping its room; an action with an
    /// immediate outcome (pipes opened, a pipe resized, a splice out done at once) yields the next event, whose actions
    /// join the end of the list.
    func transferEvent(_ event: TransferEvent) {
        guard case .transfer(let held) = phase else { return }
        var actions = actionLists.takeTransfer()
        held.machine.handle(event, &actions)
        var i = 0
        var tries = Connection.immediateIOPerEvent
        while i < actions.count {
            // Moved out, not copied (a copy of an action with a payload is a switch through its
            // value witness, and its destruction another): a payload-free case stays behind,
            // never performed, since the index has passed it.
            var action = TransferAction.setNonBlocking
            swap(&action, &actions[i])
            i += 1
            if let next = perform(action, tries: &tries) { held.machine.handle(next, &actions) }
        }
        actionLists.giveBack(transfer: &actions)
    }

    /// A completion of one of the transfer's operations.
    func transferCompleted(_ op: Op, result: Int32) {
        switch op {
        case .clientRecv: transferEvent(.received(.client, result: result, now: MonotonicClock.now()))
        case .upstreamRecv: transferEvent(.received(.upstream, result: result, now: MonotonicClock.now()))
        case .clientSend: transferEvent(.sent(.client, result: result, now: MonotonicClock.now()))
        case .upstreamSend: transferEvent(.sent(.upstream, result: result, now: MonotonicClock.now()))
        case .alertSend: transferEvent(.refusalSent)
        case .upPollIn, .upPollOut: transferEvent(.polled(.up))
        case .downPollIn, .downPollOut: transferEvent(.polled(.down))
        case .upSpliceIn: spliceAfterPoll(.up, in: true, pollResult: result)
        case .downSpliceIn: spliceAfterPoll(.down, in: true, pollResult: result)
        case .upSpliceOut: spliceAfterPoll(.up, in: false, pollResult: result)
        case .downSpliceOut: spliceAfterPoll(.down, in: false, pollResult: result)
        case .upControl: recordReceived(.up, result: result)
        case .downControl: recordReceived(.down, result: result)
        case .upControlSend: transferEvent(.recordSent(.up, result: result))
        case .downControlSend: transferEvent(.recordSent(.down, result: result))
        default: break
        }
    }

    /// The poll before a splice completed: the splice now (non-blocking), its result to the
    /// machine. A failed poll (cancelled at the close) is passed on as the splice's result;
    /// after the transfer ended nothing is spliced.
    private func spliceAfterPoll(_ d: TransferDirection, in isIn: Bool, pollResult: Int32) {
        guard case .transfer = phase, let pipe = pipes.pipe(d) else { return }
        let count = pipes.count(d, in: isIn)
        if isIn {
            let result = pollResult < 0 ? pollResult : pipe.spliceIn(from: fd(d.source), count: count)
            transferEvent(.splicedIn(d, result: result))
        } else {
            let result = pollResult < 0 ? pollResult : pipe.spliceOut(to: fd(d.destination), count: count)
            transferEvent(.splicedOut(d, result: result, now: MonotonicClock.now()))
        }
    }

    private func recordReceived(_ d: TransferDirection, result: Int32) {
        guard let m = pipes.message(d) else { return }
        transferEvent(.recordReceived(d, result: result, type: m.type, body: m.body(count: max(Int(result), 0))))
    }

    /// Receives and sends tried at once (non-blocking, on this thread) per event handled; past
    /// that they go to the ring, so that a peer that always has bytes ready cannot keep the loop
    /// on one connection.
    static let immediateIOPerEvent = 16

    /// Performs one action; returns the event an action with an immediate outcome yields.
    /// A receive or send not behind a poll is tried at once (MSG_DONTWAIT) while `tries` last:
    /// the handshake relay's records are usually there already (the header and its body came
    /// in one segment) and a socket has room, so a ring round trip per record is saved. Only
    /// "would block" goes to the ring, which then waits as before; any other result (bytes, 0
    /// at the end, an error) is the same event the ring's completion would have been. Once the
    /// connection is closing, nothing is tried (the ring refuses the submission too).
    private func perform(_ action: TransferAction, tries: inout Int) -> TransferEvent? {
        switch action {
        case .receive(let side, let buffer, let count, let pollFirst):
            if !pollFirst && tries > 0 && !phase.isOver {
                tries -= 1
                let result = Socket.receiveNow(fd(side), into: buffer, count: count)
                if result != -EAGAIN && result != -EINTR { return .received(side, result: result, now: MonotonicClock.now()) }
            }
            if pollFirst {
                loop.reserve(2)
                loop.poll(handle, op: Op.upPollIn.rawValue, fd: fd(side), for: .readable, linkNext: true)
            }
            loop.recv(handle, op: Op.receive(side).rawValue, fd: fd(side), into: buffer, count: count)
        case .send(let side, let buffer, let count, let pollFirst):
            if !pollFirst && tries > 0 && !phase.isOver {
                tries -= 1
                let result = Socket.sendNow(fd(side), from: buffer, count: count)
                if result != -EAGAIN && result != -EINTR { return .sent(side, result: result, now: MonotonicClock.now()) }
            }
            if pollFirst {
                loop.reserve(2)
                loop.poll(handle, op: Op.upPollOut.rawValue, fd: fd(side), for: .writable, linkNext: true)
            }
            loop.send(handle, op: Op.send(side).rawValue, fd: fd(side), from: buffer, count: count)
        case .cancelReceive(let side):
            loop.cancel(handle, op: Op.cancel.rawValue, target: Op.receive(side).rawValue)
        case .refuseHandshake(let alert):
            sendRefusal(alert: alert)
        case .shutdownWrite(let d):
            // shutdown(SHUT_WR) of a TCP socket never blocks (it queues a FIN): done here, on
            // the ring's thread. io_uring's IORING_OP_SHUTDOWN always runs in an io-wq worker,
            // a thread hop per half-close (docs/PERFORMANCE.md). Its result changes nothing:
            // a socket the peer reset reports that on its next splice. Once the connection is
            // closing nothing more is done to its sockets (the ring refuses it too).
            guard !phase.isOver else { return nil }
            Socket.shutdownWrite(fd(d.destination))
            return .shutDown(d)
        case .releaseRecordBuffers:
            releaseRecordBuffers()
        case .setNonBlocking:
            Socket.setNonBlocking(clientFD)
            Socket.setNonBlocking(upstreamFD)
        case .openPipes(let up):
            do {
                let capacity = try pipes.open(up: up, from: worker.pipePool)
                return .pipesOpened(up: capacity.up, down: capacity.down, now: MonotonicClock.now())
            } catch {
                return .pipesFailed("\(error)")
            }
        case .resizePipe(let d, let size):
            return .pipeResized(d, capacity: pipes.grow(d, to: size))
        case .spliceIn(let d, let count):
            // The poll is the wait; the splice runs here, on the ring's thread, when it
            // completes (spliceAfterPoll): no io-wq worker hop.
            pipes.setCount(d, in: true, count)
            loop.poll(handle, op: (d == .up ? Op.upSpliceIn : .downSpliceIn).rawValue, fd: fd(d.source),
                      for: .readableOrPeerClosed)
        case .spliceOut(let d, let count, let pollFirst):
            guard let pipe = pipes.pipe(d) else { return nil }
            if pollFirst {
                pipes.setCount(d, in: false, count)
                loop.poll(handle, op: (d == .up ? Op.upSpliceOut : .downSpliceOut).rawValue, fd: fd(d.destination),
                          for: .writable)
            } else {
                return .splicedOut(d, result: pipe.spliceOut(to: fd(d.destination), count: count), now: MonotonicClock.now())
            }
        case .receiveRecord(let d):
            guard let m = pipes.message(d) else {
                finish(CloseReason(.error, "out of memory for a kTLS control record"))
                return nil
            }
            loop.receiveRecord(handle, op: (d == .up ? Op.upControl : .downControl).rawValue, fd: fd(d.source),
                               into: m, dontWait: true)
        case .sendAlertRecord(let d, let level, let description):
            sendRecord(d, type: 21, bytes: [level, description])
        case .forwardRecord(let d, let type, let count):
            guard let m = pipes.message(d) else { return nil }
            sendRecord(d, type: type, bytes: Array(m.body(count: count)))
        case .setDeadline(let at):
            phaseDeadline = at
            applyDeadline()
        case .moved(let d, let bytes):
            if d == .up { summary.bytesUp += UInt64(bytes) } else { summary.bytesDown += UInt64(bytes) }
        case .note(let note):
            noted(note)
        case .logRecord(let direction, let record):
            worker.log(RecordLogFormatter.line(format: config.logFormat, connection: id, elapsedNanos: elapsed(),
                                               direction: direction, summary: record))
        case .diagnostic(let text):
            worker.diagnostic("conn \(id): \(text)")
        case .close(let cause):
            finish(cause.reason)
        }
        return nil
    }

    private func sendRecord(_ d: TransferDirection, type: UInt8, bytes: [UInt8]) {
        guard let m = pipes.message(d) else {
            finish(CloseReason(.error, "out of memory for a kTLS control record"))
            return
        }
        loop.sendRecord(handle, op: (d == .up ? Op.upControlSend : .downControlSend).rawValue, fd: fd(d.destination),
                        type: type, bytes: bytes, using: m)
    }

    private func noted(_ note: TransferNote) {
        switch note {
        case .end(let side, let end): noteEnd(client: side == .client, end)
        case .handshake(let version, let cipher, let alpn):
            summary.tlsVersion = version
            summary.cipher = cipher
            summary.alpn = alpn
        case .sni(let sni): summary.sni = sni
        case .path(let path): summary.path = path
        case .mode(let mode): summary.mode = mode
        }
    }
}
