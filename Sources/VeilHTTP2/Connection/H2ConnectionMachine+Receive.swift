extension H2ConnectionMachine {
    /// Bytes read from the peer: every whole frame in them is handled (a partial one waits for
    /// the next call).
    public mutating func receive(_ bytes: some Collection<UInt8>, actions: inout [Action]) {
        guard !state.isFailed else { return }
        if inboundStart > 0 {
            inbound.removeFirst(inboundStart)
            inboundStart = 0
        }
        inbound.append(contentsOf: bytes)
        if case .awaitingPreface(let goawaySent) = state {
            let have = min(inbound.count, H2.clientPreface.count)
            guard inbound[0..<have].elementsEqual(H2.clientPreface[0..<have]) else {
                fail(H2ConnectionError(.protocolError, "no HTTP/2 client preface"), actions: &actions)
                return
            }
            guard have == H2.clientPreface.count else { return }
            state = .awaitingSettings(goawaySent: goawaySent)
            inboundStart = have
        }
        while !state.isFailed {
            let outcome: H2FrameParser.Outcome
            do {
                outcome = try parser.parse(inbound[inboundStart...])
            } catch {
                fail(error, actions: &actions)
                return
            }
            guard case .frame(let frame, let consumed) = outcome else { return }
            inboundStart += consumed
            do {
                try handle(frame, actions: &actions)
            } catch {
                fail(error, actions: &actions)
            }
        }
    }

    mutating func handle(_ frame: H2Frame, actions: inout [Action]) throws(H2ConnectionError) {
        if case .awaitingSettings = state {
            guard case .settings = frame else {
                throw H2ConnectionError(.protocolError, "the peer's first frame is not SETTINGS")
            }
            state.settingsReceived()
        }
        if let block = headerBlock {
            guard case .continuation(let stream, let fragment, let end) = frame, stream == block.stream else {
                throw H2ConnectionError(.protocolError, "a header block on stream \(block.stream) is not continued")
            }
            guard block.bytes.count + fragment.count <= configuration.maxHeaderBlock else {
                throw H2ConnectionError(.enhanceYourCalm, "header block above \(configuration.maxHeaderBlock) bytes")
            }
            headerBlock?.bytes.append(contentsOf: fragment)
            if end, let whole = headerBlock {
                headerBlock = nil
                try fieldBlock(stream: whole.stream, block: whole.bytes[...], endStream: whole.endStream, actions: &actions)
            }
            return
        }
        switch frame {
        case .data(let id, let payload, let endStream, let flowLength):
            try data(id, payload, endStream: endStream, flowLength: flowLength, actions: &actions)
        case .headers(let id, let fragment, let endStream, let endHeaders):
            if endHeaders {
                try fieldBlock(stream: id, block: fragment, endStream: endStream, actions: &actions)
            } else {
                guard fragment.count <= configuration.maxHeaderBlock else {
                    throw H2ConnectionError(.enhanceYourCalm, "header block above \(configuration.maxHeaderBlock) bytes")
                }
                headerBlock = (id, endStream, Array(fragment))
            }
        case .continuation(let id, _, _):
            throw H2ConnectionError(.protocolError, "CONTINUATION on stream \(id) without a HEADERS")
        case .priority, .unknown:
            return
        case .rstStream(let id, let code):
            try checkNotIdle(id, "RST_STREAM")
            guard streams.removeValue(forKey: id) != nil else { return }
            actions.append(.reset(stream: id, code: code, retryable: code == .refusedStream, reason: "stream reset by the peer: \(code)"))
            drainCheck(actions: &actions)
        case .settings(let settings):
            try apply(settings, actions: &actions)
            H2FrameWriter.settingsAck(into: &outbound)
        case .settingsAck:
            awaitingSettingsAck = false
        case .ping(let opaque, let ack):
            if ack {
                actions.append(.pingAck(opaque: opaque))
            } else {
                H2FrameWriter.ping(opaque: opaque, ack: true, into: &outbound)
            }
        case .goaway(let last, let code, let debug):
            goaway(lastStream: last, code: code, debug: debug, actions: &actions)
        case .windowUpdate(let id, let increment):
            try windowUpdate(id, Int(increment), actions: &actions)
        }
    }

    /// A stream id the peer could not have used yet (RFC 9113 section 5.1, idle).
    func isIdle(_ id: UInt32) -> Bool {
        if (id & 1 == 1) == (configuration.role == .client) {
            return id >= nextStreamID
        }
        return id > lastPeerStream
    }

    func checkNotIdle(_ id: UInt32, _ name: String) throws(H2ConnectionError) {
        if isIdle(id) { throw H2ConnectionError(.protocolError, "\(name) on idle stream \(id)") }
    }

    mutating func data(_ id: UInt32, _ payload: ArraySlice<UInt8>, endStream: Bool, flowLength: Int,
                       actions: inout [Action]) throws(H2ConnectionError) {
        try checkNotIdle(id, "DATA")
        guard flowLength <= connectionReceiveWindow else {
            throw H2ConnectionError(.flowControlError, "DATA of \(flowLength) bytes beyond the connection window (\(connectionReceiveWindow))")
        }
        connectionReceiveWindow -= flowLength
        grantConnection(flowLength)
        guard var s = streams[id] else { return }  // a stream we reset or closed: ignored
        guard !s.remoteClosed else { throw H2ConnectionError(.streamClosed, "DATA on stream \(id) after its END_STREAM") }
        guard s.headersDone else { throw H2ConnectionError(.protocolError, "DATA on stream \(id) before its headers") }
        guard flowLength <= s.receiveWindow else {
            throw H2ConnectionError(.flowControlError, "DATA of \(flowLength) bytes beyond stream \(id)'s window (\(s.receiveWindow))")
        }
        s.receiveWindow -= flowLength
        // Padding is never delivered: it is granted back as taken.
        s.consumedCredit += flowLength - payload.count
        s.remoteClosed = s.remoteClosed || endStream
        streams[id] = s
        if !payload.isEmpty { actions.append(.data(stream: id, bytes: payload)) }
        if endStream {
            actions.append(.remoteEnd(stream: id))
            closeIfDone(id, actions: &actions)
        }
    }

    mutating func grantConnection(_ count: Int) {
        connectionCredit += count
        if connectionCredit >= configuration.connectionWindow / 2 {
            H2FrameWriter.windowUpdate(stream: 0, increment: UInt32(connectionCredit), into: &outbound)
            connectionReceiveWindow += connectionCredit
            connectionCredit = 0
        }
    }

    mutating func fieldBlock(stream id: UInt32, block: ArraySlice<UInt8>, endStream: Bool, actions: inout [Action]) throws(H2ConnectionError) {
        // Every block is decoded, even on a stream we dropped: the HPACK table is shared.
        let headers: [HPACKHeader]
        do {
            headers = try decoder.decode(block)
        } catch {
            throw H2ConnectionError(.compressionError, "header block on stream \(id): \(error)")
        }
        switch configuration.role {
        case .client: try responseHeaders(id, headers, endStream: endStream, actions: &actions)
        case .server: try requestHeaders(id, headers, endStream: endStream, actions: &actions)
        }
    }

    mutating func responseHeaders(_ id: UInt32, _ headers: [HPACKHeader], endStream: Bool, actions: inout [Action]) throws(H2ConnectionError) {
        guard id & 1 == 1, !isIdle(id) else { throw H2ConnectionError(.protocolError, "HEADERS on stream \(id), which we did not open") }
        guard var s = streams[id] else { return }
        if s.headersDone {
            // Trailers: they must end the stream.
            guard endStream else { throw H2ConnectionError(.protocolError, "trailers on stream \(id) without END_STREAM") }
            s.remoteClosed = true
            streams[id] = s
            actions.append(.remoteEnd(stream: id))
            closeIfDone(id, actions: &actions)
            return
        }
        guard let text = headers.first(where: { $0.name == ":status" })?.value, let status = Int(text), (100...599).contains(status) else {
            throw H2ConnectionError(.protocolError, "response on stream \(id) without a valid :status")
        }
        if status < 200 {
            guard status != 101, !endStream else { throw H2ConnectionError(.protocolError, "status \(status) on stream \(id)") }
            return
        }
        s.headersDone = true
        let fields = headers.filter { !$0.name.hasPrefix(":") }
        if (200...299).contains(status) {
            s.remoteClosed = endStream
            streams[id] = s
            actions.append(.response(stream: id, status: status, fields: fields))
            if endStream {
                actions.append(.remoteEnd(stream: id))
                closeIfDone(id, actions: &actions)
            }
        } else {
            // The tunnel failed: the stream is over for us (its body, if any, is dropped).
            streams[id] = nil
            actions.append(.response(stream: id, status: status, fields: fields))
            if !endStream { H2FrameWriter.rstStream(stream: id, code: .cancel, into: &outbound) }
            drainCheck(actions: &actions)
        }
    }

    mutating func requestHeaders(_ id: UInt32, _ headers: [HPACKHeader], endStream: Bool, actions: inout [Action]) throws(H2ConnectionError) {
        guard id & 1 == 1 else { throw H2ConnectionError(.protocolError, "HEADERS on even stream \(id) from a client") }
        if id <= lastPeerStream {
            guard var s = streams[id] else { return }
            guard endStream else { throw H2ConnectionError(.protocolError, "trailers on stream \(id) without END_STREAM") }
            s.remoteClosed = true
            streams[id] = s
            actions.append(.remoteEnd(stream: id))
            closeIfDone(id, actions: &actions)
            return
        }
        lastPeerStream = id
        if state.sentGoaway || streams.count >= configuration.maxConcurrentStreams {
            H2FrameWriter.rstStream(stream: id, code: .refusedStream, into: &outbound)
            return
        }
        var s = H2Stream(sendWindow: peerInitialWindow, receiveWindow: configuration.streamWindow)
        s.headersDone = true
        s.remoteClosed = endStream
        streams[id] = s
        actions.append(.request(stream: id, headers: headers))
        if endStream { actions.append(.remoteEnd(stream: id)) }
    }

    mutating func apply(_ settings: H2Settings, actions: inout [Action]) throws(H2ConnectionError) {
        if let size = settings.maxFrameSize { peerMaxFrameSize = Int(size) }
        if let n = settings.maxConcurrentStreams { peerMaxConcurrentStreams = Int(n) }
        if configuration.role == .client, settings.enablePush == true {
            throw H2ConnectionError(.protocolError, "SETTINGS_ENABLE_PUSH 1 from a server")
        }
        if let size = settings.initialWindowSize {
            let delta = Int(size) - peerInitialWindow
            peerInitialWindow = Int(size)
            for id in streams.keys.sorted() {
                try growSendWindow(id, by: delta, after: " after SETTINGS", actions: &actions)
            }
        }
    }

    mutating func windowUpdate(_ id: UInt32, _ increment: Int, actions: inout [Action]) throws(H2ConnectionError) {
        if id == 0 {
            let before = connectionSendWindow
            connectionSendWindow += increment
            guard connectionSendWindow <= H2.maxWindowSize else {
                throw H2ConnectionError(.flowControlError, "connection window above 2^31-1")
            }
            guard before <= 0, connectionSendWindow > 0 else { return }
            for sid in streams.keys.sorted() {
                guard var s = streams[sid], s.blocked, s.sendWindow > 0 else { continue }
                s.blocked = false
                streams[sid] = s
                actions.append(.writable(stream: sid))
            }
            return
        }
        try checkNotIdle(id, "WINDOW_UPDATE")
        try growSendWindow(id, by: increment, after: "", actions: &actions)
    }

    /// Stream `id`'s send window moves by `delta` (a WINDOW_UPDATE, or a new
    /// SETTINGS_INITIAL_WINDOW_SIZE); a blocked stream whose window opens is writable again.
    private mutating func growSendWindow(_ id: UInt32, by delta: Int, after cause: String,
                                         actions: inout [Action]) throws(H2ConnectionError) {
        guard var s = streams[id] else { return }
        let before = s.sendWindow
        s.sendWindow += delta
        guard s.sendWindow <= H2.maxWindowSize else {
            throw H2ConnectionError(.flowControlError, "stream \(id)'s window above 2^31-1\(cause)")
        }
        let opens = before <= 0 && s.sendWindow > 0 && s.blocked && connectionSendWindow > 0
        if opens { s.blocked = false }
        streams[id] = s
        if opens { actions.append(.writable(stream: id)) }
    }

    mutating func goaway(lastStream: UInt32, code: H2ErrorCode, debug: ArraySlice<UInt8>, actions: inout [Action]) {
        let last = state.goawayReceived(lastStream: lastStream)
        let text = String(decoding: debug.prefix(256), as: UTF8.self)
        actions.append(.goaway(lastStream: last, code: code, debug: text))
        // Our streams the peer did not take: not processed, so they may be retried elsewhere.
        let ours = configuration.role == .client
        for id in streams.keys.sorted() where (id & 1 == 1) == ours && id > last {
            streams[id] = nil
            actions.append(.reset(stream: id, code: .refusedStream, retryable: true, reason: "relay going away (GOAWAY \(code)) before stream \(id)"))
        }
        drainCheck(actions: &actions)
    }
}
