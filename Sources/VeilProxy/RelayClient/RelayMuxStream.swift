import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif
import VeilHTTP2
import VeilResolver
import VeilWire

/// One tunnelled connection carried as an HTTP/2 CONNECT stream by a `RelayMux`
/// (`--relay-mux on`): the owner of the connection's bridge on the ring thread.
///
///     Connection <--socketpair--> RelayMuxStream <--stream--> RelayMux --TLS, HTTP/2--> relay
///
/// Bridge bytes go up as DATA within the stream's and the connection's windows (a read from the
/// bridge waits while the windows are shut); DATA down goes to the bridge and is granted back to
/// the relay only once the bridge has taken it, so what waits here is bounded by the stream window.
/// END_STREAM either way is the tunnel's half-close (a FIN on the bridge). A tunnel that is not
/// answered within `connect-timeout` (waiting for the relay connection included) fails with 502
/// and the reason; one that fails after its 200 closes the bridge without an end the connection
/// could take for an authenticated one, and the reason goes in the summary (`relay_error=`).
final class RelayMuxStream: IOHandler, RelayMuxCarried {
    enum Op: UInt8 { case bridgeRecv = 1, bridgeSend, bridgeShutdown }

    let id: UInt64
    let target: HostPort
    /// The relay (its index in `config.relays`), the relays tried (bits), and whether it has
    /// been given a connection yet (`ProxyWorker.relayMuxFor`).
    var relayIndex: Int
    var tried: UInt64
    var attached = false
    unowned let worker: ProxyWorker
    weak var connection: Connection?
    var bridgeFD: Int32
    var handle = IOHandle.none
    /// The mux carrying this stream and its stream id (nil: waiting for a connection).
    weak var mux: RelayMux?
    var streamID: UInt32?
    var established = false
    var finished = false

    /// Bridge -> relay: one read's worth, `upStart..<upEnd` not yet taken by the machine.
    let up: UnsafeMutableRawPointer
    static let upSize = 16 << 10
    var upStart = 0, upEnd = 0
    var receiving = false
    /// The bridge ended its side (EOF): END_STREAM once `up` is empty.
    var bridgeEnded = false
    var sentEnd = false

    /// Relay -> bridge: bytes the bridge has not taken yet (bounded by the stream window), in
    /// two lists: `sending` (the send in flight reads it, so nothing changes it meanwhile; from
    /// `sendingOffset` on) and `down` (what came since).
    var down: [UInt8] = []
    var sending: [UInt8] = []
    var sendingOffset = 0
    var sendingCount = 0
    var remoteEnded = false
    var shutDownBridge = false

    init(id: UInt64, bridgeFD: Int32, target: HostPort, relayIndex: Int, connection: Connection, worker: ProxyWorker) {
        self.id = id
        self.relayIndex = relayIndex
        tried = RelayChoice.bit(relayIndex)
        self.bridgeFD = bridgeFD
        self.target = target
        self.connection = connection
        self.worker = worker
        up = .allocate(byteCount: Self.upSize, alignment: 16)
    }

    var loop: EventLoop { worker.loop }

    func start() {
        handle = loop.register(self)
        loop.setDeadline(handle, MonotonicClock.now() &+ worker.config.connectTimeout.nanoseconds)
        worker.relayMuxFor(self).attach(self)
    }

    // MARK: From the mux

    let method = "CONNECT"
    var authority: String { target.description }
    var fields: [HPACKHeader] { [] }
    var endsRequest: Bool { false }

    /// A 2xx: the connection may use the bridge; anything else: 502 with the relay's reason.
    func answered(status: Int, fields: [HPACKHeader], conn: UInt64, streamsOnConnection: Int, relay: String) {
        guard (200...299).contains(status) else {
            fail(.badGateway, Self.refusal(status, fields, what: "CONNECT \(target)", relay: relay))
            return
        }
        guard !finished else { return }
        established = true
        loop.setDeadline(handle, 0)
        connection?.summary.relayConn = conn
        connection?.summary.relayStreams = streamsOnConnection
        connection?.tunnelEstablished(path: .userspace, note: nil)
        receiveFromBridge()
    }

    /// The tunnel failed: before its 200 the connection answers its client with `status`;
    /// after, the bridge closes with no end passed on.
    func fail(_ status: HTTPStatusResponse.Status, _ reason: String) {
        guard !finished else { return }
        if established {
            connection?.summary.relayError = reason
            close()
        } else {
            let c = connection
            close()
            c?.tunnelFailed(status, CloseReason(.relayFailed, reason))
        }
    }

    func deliver(_ bytes: ArraySlice<UInt8>) {
        guard !finished else { return }
        down.append(contentsOf: bytes)
        sendToBridge()
    }

    func remoteEnd() {
        remoteEnded = true
        sendToBridge()
    }

    func writable() {
        pushUp()
    }

    func reattach() {
        worker.relayMuxFor(self).attach(self)
    }

    // MARK: Bridge I/O

    private func receiveFromBridge() {
        guard established, !finished, !receiving, !bridgeEnded, upStart == upEnd else { return }
        upStart = 0
        upEnd = 0
        receiving = true
        loop.recv(handle, op: Op.bridgeRecv.rawValue, fd: bridgeFD, into: up, count: Self.upSize)
    }

    /// Gives the machine what the bridge sent, as far as the windows allow.
    private func pushUp() {
        guard !finished, let mux, let sid = streamID else { return }
        if upStart < upEnd {
            upStart += mux.send(stream: sid, UnsafeRawBufferPointer(start: up + upStart, count: upEnd - upStart), end: false)
        }
        if upStart == upEnd {
            if bridgeEnded && !sentEnd {
                sentEnd = true
                _ = mux.send(stream: sid, UnsafeRawBufferPointer(start: up, count: 0), end: true)
                checkDone()
            } else {
                receiveFromBridge()
            }
        }
    }

    private func sendToBridge() {
        guard !finished, sendingCount == 0 else { return }
        if sendingOffset == sending.count {
            sending.removeAll(keepingCapacity: true)
            sendingOffset = 0
            swap(&sending, &down)
        }
        if sending.isEmpty {
            if remoteEnded && !shutDownBridge {
                shutDownBridge = true
                loop.shutdownWrite(handle, op: Op.bridgeShutdown.rawValue, fd: bridgeFD)
            }
            return
        }
        sendingCount = sending.count - sendingOffset
        let offset = sendingOffset
        sending.withUnsafeBytes { raw in
            if let base = raw.baseAddress {
                loop.send(handle, op: Op.bridgeSend.rawValue, fd: bridgeFD, from: base + offset, count: raw.count - offset)
            }
        }
    }

    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {
        guard let op = Op(rawValue: op), !finished else { return }
        switch op {
        case .bridgeRecv:
            receiving = false
            if result > 0 {
                upEnd = Int(result)
                pushUp()
            } else if result == 0 {
                bridgeEnded = true
                pushUp()
            } else if result != -EAGAIN && result != -EINTR {
                resetAndClose()
            } else {
                receiveFromBridge()
            }
        case .bridgeSend:
            let n = sendingCount
            sendingCount = 0
            guard result > 0 else {
                if result != -EAGAIN && result != -EINTR { resetAndClose() } else { sendToBridge() }
                return
            }
            let taken = min(Int(result), n)
            sendingOffset += taken
            if let mux, let sid = streamID { mux.consumed(stream: sid, taken) }
            sendToBridge()
        case .bridgeShutdown:
            checkDone()
        }
    }

    func deadlineExpired(loop: EventLoop) {
        guard !established, !finished else { return }
        let why = mux?.isUp == true ? "relay did not answer CONNECT in time" : (worker.relayLastError(relayIndex) ?? "no relay connection")
        fail(.badGateway, "relay tunnel not up within \(worker.config.connectTimeout) s: \(why)")
    }

    /// The connection ended (its client left, say).
    func connectionFinished() {
        resetAndClose()
    }

    private func resetAndClose() {
        guard !finished else { return }
        if let mux, let sid = streamID { mux.reset(stream: sid) }
        close()
    }

    /// Both directions ended and the bridge took everything.
    private func checkDone() {
        if sentEnd && shutDownBridge && down.isEmpty && sendingCount == 0 && sendingOffset == sending.count {
            if let mux, let sid = streamID { mux.streamDone(sid) }
            close()
        }
    }

    func close() {
        guard !finished else { return }
        finished = true
        mux?.detach(self)
        loop.retire(handle, cancelling: [bridgeFD])
    }

    func finalize(loop: EventLoop) {
        Socket.close(bridgeFD)
        bridgeFD = -1
        up.deallocate()
        worker.muxStreamFinished(self)
    }
}
