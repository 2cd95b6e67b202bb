import VeilTLS
import VeilWire
#if canImport(Glibc)
import Glibc
#endif

/// Reading the relay's answer to CONNECT, and the socket I/O of the session until then: receives
/// into the engine's input, sends of what it produced (handshake flights, the request).
extension RelayTunnelMachine {
    mutating func readAnswer(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        let e = s.engine
        let scratch = settings.scratch
        while true {
            switch e.read(into: scratch, max: RelayTunnelMachine.readChunk) {
            case .data(let n):
                s.answer.append(contentsOf: UnsafeRawBufferPointer(start: scratch, count: n))
                if s.answer.count > RelayTunnelMachine.maxAnswer * 2 { fail(.answerTooLarge, &actions); return }
                if answerComplete(s, &actions) { return }
            case .needsInput:
                if s.relayClosed { answerEnded(s, &actions); return }
                flush(s, &actions)
                receive(s, &actions)
                return
            case .closed:
                s.relayClosed = true
                answerEnded(s, &actions)
                return
            case .failed(let why):
                fail(.read(why), &actions)
                return
            }
        }
    }

    /// Acts on the answer once its head (and an error's body) is here; false to read more.
    private mutating func answerComplete(_ s: RelayTunnelSession, _ actions: inout [Action]) -> Bool {
        guard let parsed = RelayAnswer(s.answer) else {
            if s.answer.count > RelayTunnelMachine.maxAnswer { fail(.answerHeadTooLarge, &actions); return true }
            return false
        }
        if parsed.status == 200 {
            let rest = s.answer[parsed.headLength...]
            guard rest.count <= RelayTunnelMachine.maxPending else { fail(.tooMuchAfterAnswer, &actions); return true }
            state = .answered(s, pending: Array(rest))
            s.answer = []
            handOver(&actions)
            return true
        }
        guard parsed.bodyComplete else { return false }
        fail(.refused(status: parsed.status, reason: parsed.reason), &actions)
        return true
    }

    /// The relay closed: what it said so far is all there is.
    private mutating func answerEnded(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        if let parsed = RelayAnswer(s.answer), parsed.status != 200 {
            fail(.refused(status: parsed.status, reason: parsed.reason), &actions)
        } else {
            fail(.closedWithoutAnswer, &actions)
        }
    }

    // MARK: Socket I/O of the session

    /// Reads from the relay into the engine (handshake and answer alike); nothing when a
    /// receive is in flight or the input is full.
    func receive(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        guard !s.receiving else { return }
        let input = s.engine.inbound
        let target = input.writePointer
        let count = input.contiguousWritable
        guard count > 0 else { return }
        input.pinned = true
        s.receiving = true
        actions.append(.receive(into: target, count: count))
    }

    /// Sends what the engine produced; nothing when a send is in flight or nothing is queued.
    func flush(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        guard !s.sending else { return }
        let output = s.engine.outbound
        let count = output.readable
        guard count > 0 else { return }
        output.pinned = true
        s.sending = true
        actions.append(.send(from: UnsafeRawPointer(output.readPointer), count: count))
    }

    /// The session while one is being set up.
    private var session: RelayTunnelSession? {
        switch state {
        case .handshake(let s), .awaitingAnswer(let s), .answered(let s, _): s
        case .created, .connecting, .closed: nil
        }
    }

    mutating func received(_ result: Int32, _ actions: inout [Action]) {
        guard let s = session, s.receiving else { return }
        s.receiving = false
        s.engine.inbound.pinned = false
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            continueSetUp(s, &actions)
            return
        }
        if result < 0 { fail(.socketError(errno: -result), &actions); return }
        if result == 0 {
            s.relayClosed = true
        } else {
            s.engine.inbound.didWrite(Int(result))
        }
        continueSetUp(s, &actions)
    }

    private mutating func continueSetUp(_ s: RelayTunnelSession, _ actions: inout [Action]) {
        switch state {
        case .handshake: driveHandshake(s, &actions)
        case .awaitingAnswer: readAnswer(s, &actions)
        case .answered: handOver(&actions)
        case .created, .connecting, .closed: break
        }
    }

    mutating func sent(_ result: Int32, _ actions: inout [Action]) {
        guard let s = session, s.sending else { return }
        s.sending = false
        s.engine.outbound.pinned = false
        if result < 0 && result != -EAGAIN && result != -EINTR {
            fail(.socketError(errno: -result), &actions)
            return
        }
        s.engine.outbound.consume(max(0, Int(result)))
        flush(s, &actions)
        if case .answered = state { handOver(&actions) }
    }
}
