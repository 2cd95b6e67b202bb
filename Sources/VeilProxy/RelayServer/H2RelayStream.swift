import VeilHTTP2
import VeilRuntime
import VeilWire
#if canImport(Glibc)
import Glibc
#endif

/// One CONNECT stream of an `H2RelaySession`: its end of the socketpair to the stream's bridged
/// `Connection`. It writes the HTTP/1.1 CONNECT, reads the answer (its status becomes the
/// stream's :status; a 2xx opens the tunnel, anything else ends the stream with the reason as
/// `veil-reason`), then moves tunnel
/// bytes: the client's DATA into the bridge (the stream's window granted back only as the bridge
/// takes it), the bridge's bytes out as DATA (the next read only once the windows took the last
/// one). END_STREAM and the bridge's EOF are each direction's half-close.
final class H2RelayStream: IOHandler {
    enum Op: UInt8 { case recv = 1, send, shutdown }
    enum State { case awaitingAnswer, tunnel, done }

    static let answerLimit = 16 * 1024
    static let readChunk = 16 * 1024

    let id: UInt32
    let bridgeFD: Int32
    unowned let session: H2RelaySession
    var handle = IOHandle.none
    var state = State.awaitingAnswer
    /// Client -> bridge (the CONNECT request first); bounded by the stream window.
    let toBridge: ByteBuffer
    /// Bridge -> client: the last read, and how much of it the client's windows have not taken.
    var fromBridge: [UInt8] = []
    var fromBridgeSent = 0
    var answer: [UInt8] = []
    var receiving = false
    var sending = 0
    var remoteEnd = false
    var bridgeWriteShut = false
    var bridgeEOF = false
    var retired = false
    /// Bytes of the CONNECT request not yet taken by the bridge (not the client's: no window
    /// to grant back for them).
    var requestPending = 0
    let readArea = UnsafeMutableRawPointer.allocate(byteCount: H2RelayStream.readChunk, alignment: 16)

    /// A RESOLVE stream: the answer is all there is.
    let resolve: Bool

    init(id: UInt32, bridgeFD: Int32, session: H2RelaySession, resolve: Bool, bufferCapacity: Int) {
        self.id = id
        self.resolve = resolve
        self.bridgeFD = bridgeFD
        self.session = session
        toBridge = ByteBuffer(capacity: bufferCapacity)
    }

    var loop: EventLoop { session.worker.loop }

    func start(request: [UInt8]) {
        handle = loop.register(self)
        toBridge.append(request)
        requestPending = request.count
        pumpToBridge()
        postReceive()
    }

    // MARK: From the session

    /// The client's DATA; false when it does not fit (the peer broke flow control).
    func deliver(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard state != .done else { return true }
        let taken = bytes.withUnsafeBytes { raw in
            raw.baseAddress.map { toBridge.append($0, count: raw.count) } ?? 0
        }
        guard taken == bytes.count else { return false }
        pumpToBridge()
        return true
    }

    func remoteEnded() {
        remoteEnd = true
        pumpToBridge()
    }

    func writable() {
        pumpToClient()
    }

    /// Both sides ended in the machine: nothing more to do once the bridge has what it was given.
    func machineClosed() {
        if toBridge.isEmpty && sending == 0 { end() }
    }

    /// Reset, the connection failed, or the session is ending: close at once.
    func abort() {
        state = .done
        end()
    }

    // MARK: Completions

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        switch Op(rawValue: op) {
        case .recv:
            receiving = false
            guard !retired else { return }
            if result > 0 {
                received(Int(result))
            } else {
                bridgeEnded()
            }
        case .send:
            let n = sending
            sending = 0
            toBridge.pinned = false
            guard !retired else { return }
            if result > 0 {
                let sent = min(Int(result), n)
                toBridge.consume(sent)
                let ours = min(sent, requestPending)
                requestPending -= ours
                if sent > ours { session.consumed(id, sent - ours) }
                pumpToBridge()
            } else {
                session.reset(id)
                abort()
            }
        case .shutdown:
            if state == .done { end() }
        case .none:
            break
        }
    }

    private func received(_ n: Int) {
        let bytes = UnsafeRawBufferPointer(start: readArea, count: n)
        switch state {
        case .awaitingAnswer:
            answer.append(contentsOf: bytes)
            guard let head = RelayAnswer(answer) else {
                if answer.count > Self.answerLimit { session.reset(id); abort() } else { postReceive() }
                return
            }
            let status = head.status == 0 ? 502 : head.status  // 0: not an HTTP answer
            if !(200...299).contains(status) {
                // A refusal's reason is its body (one line): it goes with the status as veil-reason.
                guard head.bodyComplete || answer.count > Self.answerLimit else {
                    postReceive()
                    return
                }
                refuse(status, head)
                return
            }
            if resolve {
                // The answer's Veil-* fields (addresses, TTL, source, HTTPS records) as they are.
                session.respond(id, status: status, extra: Self.veilFields(head, in: answer))
                _ = session.send(id, [], endStream: true)
                abort()
                return
            }
            session.respond(id, status: status)
            state = .tunnel
            fromBridge = Array(answer[head.headLength...])
            fromBridgeSent = 0
            answer = []
            pumpToClient()
        case .tunnel:
            fromBridge = Array(bytes)
            fromBridgeSent = 0
            pumpToClient()
        case .done:
            break
        }
    }

    private func bridgeEnded() {
        bridgeEOF = true
        switch state {
        case .awaitingAnswer:
            if let head = RelayAnswer(answer), head.status != 0, !(200...299).contains(head.status) {
                refuse(head.status, head)
            } else {
                session.respond(id, status: 502)
                abort()
            }
        case .tunnel:
            _ = session.send(id, [], endStream: true)
            if remoteEnd && toBridge.isEmpty { end() }
        case .done:
            end()
        }
    }

    /// The bridged connection refused (an error status and its one-line reason): the stream's
    /// answer is that status with `veil-reason` (and a RESOLVE's Veil-* fields), which ends it.
    private func refuse(_ status: Int, _ head: RelayAnswer) {
        var fields = resolve ? Self.veilFields(head, in: answer) : []
        if !head.reason.isEmpty {
            fields.append(HPACKHeader(name: "veil-reason", value: head.reason))
        }
        session.respond(id, status: status, extra: fields)
        abort()
    }

    // MARK: Pumps

    private func pumpToClient() {
        guard state == .tunnel, !retired else { return }
        if fromBridgeSent < fromBridge.count {
            fromBridgeSent += session.send(id, fromBridge[fromBridgeSent...], endStream: false)
            guard fromBridgeSent == fromBridge.count else { return }  // .writable resumes
        }
        postReceive()
    }

    private func pumpToBridge() {
        guard sending == 0, !retired, state != .done else { return }
        if !toBridge.isEmpty {
            sending = loop.send(handle, op: Op.send.rawValue, fd: bridgeFD, from: toBridge)
        } else if remoteEnd && !bridgeWriteShut && state == .tunnel {
            bridgeWriteShut = true
            loop.shutdownWrite(handle, op: Op.shutdown.rawValue, fd: bridgeFD)
            if bridgeEOF { state = .done }
        }
    }


    private func postReceive() {
        guard !receiving, !retired, !bridgeEOF, state != .done else { return }
        receiving = true
        loop.recv(handle, op: Op.recv.rawValue, fd: bridgeFD, into: readArea, count: H2RelayStream.readChunk)
    }

    private func end() {
        guard !retired else { return }
        retired = true
        loop.retire(handle, cancelling: [bridgeFD])
    }

    func finalize(loop: EventLoop) {
        Socket.close(bridgeFD)
        readArea.deallocate()
        session.streamFinished(id)
    }

    // MARK: The HTTP/1.1 answer

    /// The `Veil-*` fields of an answer's head (`bytes`: the answer), lower-cased names, values
    /// trimmed.
    static func veilFields(_ head: RelayAnswer, in bytes: [UInt8]) -> [HPACKHeader] {
        head.fields(in: bytes).filter { $0.name.hasPrefix("veil-") }.map { HPACKHeader(name: $0.name, value: $0.value) }
    }
}
