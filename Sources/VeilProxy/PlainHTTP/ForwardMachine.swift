import VeilWire
#if canImport(Glibc)
import Glibc
#endif

/// A plain-http request (`GET http://host/path HTTP/1.1`) once the upstream connection is up:
/// the head rewritten for the origin (`ForwardRequest`) and exactly the request body go out
/// (`RequestBodyFraming`: what the client sends after the body is never forwarded); the
/// response is spliced back (`SpliceMachine`, downward only) as it comes, and the connection
/// ends when the origin has closed and the client's write side is shut (`mode=http`). The
/// sockets are non-blocking (the splice needs it), so each read of the body and each send to the
/// origin waits behind a poll linked to it.
///
/// | state      | start / pipesOpened            | sent (upstream)        | received (client)      | splice events, deadline |
/// |------------|--------------------------------|------------------------|------------------------|-------------------------|
/// | idle       | frame pipelined body, open pipe | -                     | -                      | -                       |
/// | opening    | send head, start response      | -                      | -                      | (SpliceMachine)         |
/// | forwarding | -                              | next chunk / read body | frame, send / close    | (SpliceMachine)         |
struct ForwardMachine {
    typealias Event = TransferEvent
    typealias Action = TransferAction

    enum State {
        case idle
        /// The response's pipe is being opened.
        case opening(SpliceMachine)
        case forwarding(SpliceMachine)
        case closed
    }

    /// The request direction, for the machine's whole life (see ForwardRequestStream).
    let request: ForwardRequestStream
    let idleTimeout: Double
    let pipeSizeLimit: Int
    private(set) var state = State.idle

    init(_ request: ForwardRequestStream, idleTimeout: Double, pipeSizeLimit: Int) {
        self.request = request
        self.idleTimeout = idleTimeout
        self.pipeSizeLimit = pipeSizeLimit
    }

    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch state {
        case .idle:
            if case .start(let now) = event { begin(now: now, &actions) }
        case .opening(var splice):
            splice.handle(event, &actions)
            guard case .relaying = splice.state else {
                if case .closed = splice.state { state = .closed } else { state = .opening(splice) }
                return
            }
            state = .forwarding(splice)
            sendToOrigin(&actions)
        case .forwarding(var splice):
            switch event {
            case .sent(.upstream, let result, let now):
                sent(result: result, now: now, splice, &actions)
            case .received(.client, let result, let now):
                received(result: result, now: now, splice, &actions)
            default:
                splice.handle(event, &actions)
                if case .closed = splice.state { state = .closed } else { state = .forwarding(splice) }
            }
        case .closed:
            break
        }
    }

    private mutating func begin(now: UInt64, _ actions: inout [Action]) {
        actions.append(.note(.mode(.http)))
        actions.append(.note(.path(.splice)))
        actions.append(.setDeadline(TransferDeadline.after(idleTimeout, from: now)))
        let r = request
        guard let body = r.framing.take(r.pipelined) else {
            close(.malformedRequestBody, &actions)
            return
        }
        r.sendStart = 0
        r.sendEnd = r.headCount + body
        var splice = SpliceMachine(.response, idleTimeout: idleTimeout, pipeSizeLimit: pipeSizeLimit)
        splice.handle(.start(now: now), &actions)
        state = .opening(splice)
    }

    private mutating func sent(result: Int32, now: UInt64, _ splice: SpliceMachine, _ actions: inout [Action]) {
        let r = request
        r.flow.sending = false
        if result == -EAGAIN || result == -EINTR {
            sendToOrigin(&actions)
        } else if result <= 0 {
            close(.peerFailed(.upstream, result: result), &actions)
        } else {
            r.sendStart += Int(result)
            r.flow.moved(Int(result))
            actions.append(.moved(.up, bytes: Int(result)))
            splice.noteActivity(now)
            if r.sendStart < r.sendEnd { sendToOrigin(&actions) } else { receiveBody(&actions) }
        }
    }

    private mutating func received(result: Int32, now: UInt64, _ splice: SpliceMachine, _ actions: inout [Action]) {
        let r = request
        r.flow.receiving = false
        if result == -EAGAIN || result == -EINTR || result == -ECANCELED {
            receiveBody(&actions)
            return
        }
        guard result > 0 else {
            close(result == 0 ? .clientClosedMidBody : .peerFailed(.client, result: result), &actions)
            return
        }
        splice.noteActivity(now)
        guard let n = r.framing.take(UnsafeRawBufferPointer(start: r.buffer, count: Int(result))) else {
            close(.malformedRequestBody, &actions)
            return
        }
        r.base = UnsafeRawPointer(r.buffer)
        r.sendStart = 0
        r.sendEnd = n
        if n > 0 { sendToOrigin(&actions) } else { receiveBody(&actions) }
    }

    /// Sends `base[sendStart..<sendEnd]`: the staged head (with the pipelined body), then each
    /// piece of the body as it was read.
    private func sendToOrigin(_ actions: inout [Action]) {
        let r = request
        guard r.sendStart < r.sendEnd else { return }
        r.flow.sending = true
        actions.append(.send(.upstream, from: r.base + r.sendStart, count: r.sendEnd - r.sendStart, pollFirst: true))
    }

    /// Reads more of the body, unless all of it is out: nothing after the body is read.
    private func receiveBody(_ actions: inout [Action]) {
        let r = request
        guard !r.framing.isComplete else { return }
        r.flow.receiving = true
        actions.append(.receive(.client, into: r.buffer, count: r.bufferSize, pollFirst: true))
    }

    private mutating func close(_ cause: TransferCloseCause, _ actions: inout [Action]) {
        state = .closed
        actions.append(.close(cause))
    }
}
