extension H2ConnectionMachine {
    /// Client: opens a CONNECT stream to `authority` (`host:port`; RFC 9113 section 8.5: no
    /// :scheme, no :path) with `extra` headers (say `proxy-authorization`). The answer comes as
    /// `.response`.
    public mutating func openConnect(authority: String, extra: [HPACKHeader] = []) throws(OpenRefusal) -> UInt32 {
        try openStream(method: "CONNECT", authority: authority, extra: extra, endStream: false)
    }

    /// Client: opens a stream whose request is `method` and `authority` alone (CONNECT, or the
    /// Veil relay's RESOLVE) with `extra` headers; `endStream`: the request has no body (our
    /// side is closed at once, as for RESOLVE). The answer comes as `.response`.
    public mutating func openStream(method: String, authority: String, extra: [HPACKHeader] = [],
                                    endStream: Bool) throws(OpenRefusal) -> UInt32 {
        guard configuration.role == .client else { throw .notClient }
        guard !isGoingAway else { throw .goingAway }
        guard nextStreamID <= 0x7fff_ffff else { throw .exhausted }
        guard streams.count < peerMaxConcurrentStreams else { throw .tooManyStreams }
        let id = nextStreamID
        nextStreamID += 2
        var block: [UInt8] = []
        encoder.encode([HPACKHeader(name: ":method", value: method), HPACKHeader(name: ":authority", value: authority)] + extra,
                       into: &block)
        H2FrameWriter.headers(stream: id, block: block[...], endStream: endStream, maxFrameSize: peerMaxFrameSize, into: &outbound)
        var s = H2Stream(sendWindow: peerInitialWindow, receiveWindow: configuration.streamWindow)
        s.localClosed = endStream
        streams[id] = s
        return id
    }

    /// Server: answers a stream's request. A 2xx keeps the stream open (the tunnel); any other
    /// status ends it.
    public mutating func respond(stream id: UInt32, status: Int, extra: [HPACKHeader] = [], actions: inout [Action]) {
        guard configuration.role == .server, !state.isFailed, var s = streams[id] else { return }
        var block: [UInt8] = []
        encoder.encode([HPACKHeader(name: ":status", value: String(status))] + extra, into: &block)
        let ends = !(200...299).contains(status)
        H2FrameWriter.headers(stream: id, block: block[...], endStream: ends, maxFrameSize: peerMaxFrameSize, into: &outbound)
        if ends {
            s.localClosed = true
            streams[id] = s
            if !s.remoteClosed {
                // The client's side is of no use any more.
                H2FrameWriter.rstStream(stream: id, code: .noError, into: &outbound)
                s.remoteClosed = true
                streams[id] = s
            }
            closeIfDone(id, actions: &actions)
        }
    }

    /// How much `sendData` would take on `stream` now.
    public func sendCapacity(stream id: UInt32) -> Int {
        guard !state.isFailed, let s = streams[id], !s.localClosed else { return 0 }
        return max(0, min(s.sendWindow, connectionSendWindow))
    }

    /// Queues tunnel bytes as DATA frames within the peer's windows; returns how many it took.
    /// When it took fewer than given, `.writable` comes once the windows open. `endStream`
    /// (the tunnel's half-close) goes out only with the last byte.
    @discardableResult
    public mutating func sendData<C: Collection<UInt8>>(stream id: UInt32, _ bytes: C, endStream: Bool, actions: inout [Action]) -> Int {
        guard !state.isFailed, var s = streams[id], !s.localClosed else { return 0 }
        var rest = bytes[...]
        while !rest.isEmpty {
            let room = min(s.sendWindow, connectionSendWindow, peerMaxFrameSize)
            guard room > 0 else { break }
            let chunk = rest.prefix(room)
            rest = rest.dropFirst(chunk.count)
            H2FrameWriter.data(stream: id, payload: chunk, endStream: endStream && rest.isEmpty, into: &outbound)
            s.sendWindow -= chunk.count
            connectionSendWindow -= chunk.count
        }
        let taken = bytes.count - rest.count
        if !rest.isEmpty {
            s.blocked = true
        } else if endStream {
            if bytes.isEmpty { H2FrameWriter.data(stream: id, payload: EmptyCollection(), endStream: true, into: &outbound) }
            s.localClosed = true
        }
        streams[id] = s
        if s.localClosed { closeIfDone(id, actions: &actions) }
        return taken
    }

    /// The consumer took `count` bytes of `stream`'s DATA: grant them back to the peer (batched:
    /// a WINDOW_UPDATE once half the window is free again).
    public mutating func consumed(stream id: UInt32, _ count: Int) {
        guard !state.isFailed, var s = streams[id], !s.remoteClosed else { return }
        s.consumedCredit += count
        if s.consumedCredit >= configuration.streamWindow / 2 {
            H2FrameWriter.windowUpdate(stream: id, increment: UInt32(s.consumedCredit), into: &outbound)
            s.receiveWindow += s.consumedCredit
            s.consumedCredit = 0
        }
        streams[id] = s
    }

    /// Ends a stream abnormally (its client left, say): RST_STREAM with `code`.
    public mutating func reset(stream id: UInt32, code: H2ErrorCode = .cancel, actions: inout [Action]) {
        guard !state.isFailed, streams.removeValue(forKey: id) != nil else { return }
        H2FrameWriter.rstStream(stream: id, code: code, into: &outbound)
        drainCheck(actions: &actions)
    }

    /// Sends a PING (keepalive); its ACK comes as `.pingAck` (the owner counts what is unanswered).
    public mutating func ping() {
        guard !state.isFailed else { return }
        pingCounter &+= 1
        H2FrameWriter.ping(opaque: pingCounter, ack: false, into: &outbound)
    }

    /// Sends GOAWAY: no new streams either way; the open ones finish, then `.drained`.
    public mutating func shutdown(code: H2ErrorCode = .noError, reason: String = "", actions: inout [Action]) {
        guard state.goawaySent() else { return }
        H2FrameWriter.goaway(lastStream: lastPeerStream, code: code, debug: Array(reason.utf8.prefix(256)), into: &outbound)
        drainCheck(actions: &actions)
    }
}
