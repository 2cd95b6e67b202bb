import VeilHTTP2
import VeilResolver
import VeilRuntime
import VeilWire

/// One name query carried by a `RelayMux` (`--relay-mux on`): the relay's `RESOLVE host:port` as
/// an HTTP/2 request with no body (`veil-want: https`: the name's HTTPS records too), so that
/// `--resolver relay` and the ECH configs of tunnelled targets go on the connection the tunnels
/// use. The answer (:status and the `veil-*` fields, a refusal's reason in `veil-reason`) is read
/// by the parser of the HTTP/1.1 answer and handed to `reply` once; no answer within `timeout`
/// (waiting for the connection included) is a failure with the reason. It lives on the ring
/// thread; `RelayMuxQueries` hands the answer back to the resolver's thread.
final class RelayMuxQuery: IOHandler, RelayMuxCarried {
    typealias Reply = @Sendable (Result<RelayResolution.ParseResult, RelayQueryFailure>) -> Void

    unowned let worker: ProxyWorker
    let relayIndex: Int
    let authority: String
    let fields: [HPACKHeader]
    let timeout: Double
    var handle = IOHandle.none
    weak var mux: RelayMux?
    var streamID: UInt32?
    private var reply: Reply?
    private var closed = false

    init(relayIndex: Int, host: String, port: UInt16, https: Bool, timeout: Double, worker: ProxyWorker, reply: @escaping Reply) {
        self.relayIndex = relayIndex
        authority = (try? HostPort(host: host, port: port))?.description ?? "\(host):\(port)"
        fields = https ? [HPACKHeader(name: "veil-want", value: "https")] : []
        self.timeout = timeout
        self.worker = worker
        self.reply = reply
    }

    let method = "RESOLVE"
    var endsRequest: Bool { true }
    /// The answer is all there is: a query is never opened again once answered.
    var established: Bool { reply == nil }

    func start() {
        handle = worker.loop.register(self)
        worker.loop.setDeadline(handle, MonotonicClock.now() &+ timeout.nanoseconds)
        reattach()
    }

    // MARK: From the mux

    func answered(status: Int, fields: [HPACKHeader], conn: UInt64, streamsOnConnection: Int, relay: String) {
        if status == 405 || status == 501 { markUnanswered("it answered \(status)") }
        answer(.success(Self.parse(status: status, fields: fields)))
        // A refusal ended the stream; a 200 ends with END_STREAM (`remoteEnd`).
        if !(200...299).contains(status) { close() }
    }

    /// A RESOLVE answer has no body: whatever comes is taken and dropped.
    func deliver(_ bytes: ArraySlice<UInt8>) {
        if let mux, let sid = streamID { mux.consumed(stream: sid, bytes.count) }
    }

    func remoteEnd() {
        if let mux, let sid = streamID { mux.streamDone(sid) }
        close()
    }

    func writable() {}

    func fail(_ status: HTTPStatusResponse.Status, _ reason: String) {
        answer(.failure(.init(unprefixed(reason))))
        close()
    }

    /// The resolver names the relay before the reason: the mux's "relay ADDRESS: " is dropped.
    private func unprefixed(_ reason: String) -> String {
        let prefix = "relay \(worker.config.relays[relayIndex].address): "
        return reason.hasPrefix(prefix) ? String(reason.dropFirst(prefix.count)) : reason
    }

    /// Onto the relay's connection, unless the relay is down (its last connection failed and its
    /// backoff has not passed) or does not answer RESOLVE (it reset or refused one on this
    /// connection): then the query fails at once with why, and the resolver asks its next
    /// server rather than wait.
    func reattach() {
        let health = worker.relayChoice.health[relayIndex]
        if health.downUntil > MonotonicClock.now() {
            fail(.badGateway, "down for its backoff after: \(unprefixed(health.lastError ?? "its connection failed"))")
            return
        }
        let m = worker.relayMux(for: relayIndex)
        if let why = m.resolveUnanswered {
            fail(.badGateway, why)
            return
        }
        m.attach(self)
    }

    /// A RESOLVE reset with PROTOCOL_ERROR: the relay took it for a malformed request (RFC 9113
    /// section 8.1.1; a standard HTTP/2 proxy does, RESOLVE being Veil's): not asked again on
    /// this connection.
    func streamReset(_ code: H2ErrorCode, _ reason: String) {
        if code == .protocolError, reply != nil { markUnanswered("it reset the stream: PROTOCOL_ERROR") }
        fail(.badGateway, reason)
    }

    /// Remembered on the connection (and said once in the log).
    private func markUnanswered(_ how: String) {
        guard let mux, mux.resolveUnanswered == nil else { return }
        let why = "the relay does not answer RESOLVE (\(how)): not a veil relay"
        mux.resolveUnanswered = why
        worker.diagnostic("relay \(mux.relay.address) relay_conn=\(mux.id): \(why); name queries on this connection fail at once")
    }

    /// It submits no operation of its own (the mux does the I/O).
    func complete(op: UInt8, result: Int32, more: Bool, loop: EventLoop) {}

    func deadlineExpired(loop: EventLoop) {
        let why = mux?.isUp == true ? "no answer to RESOLVE" : unprefixed(worker.relayLastError(relayIndex) ?? "no relay connection")
        fail(.gatewayTimeout, "\(why) within \(timeout) s (multiplexed connection)")
    }

    // MARK: The answer

    /// The answer as the HTTP/1.1 parser reads it. A field with control characters is not
    /// an answer (an HTTP/1.1 head could not hold one).
    static func parse(status: Int, fields: [HPACKHeader]) -> RelayResolution.ParseResult {
        for f in fields where (f.name + f.value).utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
            return .malformed("control characters in the answer's \(HTTPStatusResponse.sanitise(String(f.name.prefix(40)))) field")
        }
        let reason = Self.reason(in: fields) ?? "status \(status)"
        return RelayResolution.parse(status: status, reason: reason, fields: fields.map { ($0.name, $0.value) })
    }

    private func answer(_ result: Result<RelayResolution.ParseResult, RelayQueryFailure>) {
        guard let reply else { return }
        self.reply = nil
        reply(result)
    }

    private func close() {
        guard !closed else { return }
        closed = true
        mux?.detach(self)
        worker.loop.retire(handle, cancelling: [])
    }

    func finalize(loop: EventLoop) {
        worker.relayQueryFinished(self)
    }
}
