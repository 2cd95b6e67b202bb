/// Parses frames from a byte buffer (RFC 9113 sections 4 and 6). Pure: no state but the limit;
/// CONTINUATION sequencing and stream states are `H2ConnectionMachine`'s.
///
/// Every malformed frame is a connection error with the RFC's code (a stream error may always
/// be treated as a connection error, section 5.4); nothing in the input can trap.
public struct H2FrameParser: Sendable {
    /// Our SETTINGS_MAX_FRAME_SIZE: a longer frame is a FRAME_SIZE_ERROR.
    public var maxFrameSize: Int

    public init(maxFrameSize: Int = H2.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    public enum Outcome: Equatable, Sendable {
        /// Not a whole frame yet: read more (`needed`: at least this many bytes in all).
        case needMore(needed: Int)
        /// One frame, `consumed` bytes from the start of the input.
        case frame(H2Frame, consumed: Int)
    }

    /// Parses the first frame of `bytes`.
    public func parse(_ bytes: ArraySlice<UInt8>) throws(H2ConnectionError) -> Outcome {
        guard bytes.count >= H2.frameHeaderSize else { return .needMore(needed: H2.frameHeaderSize) }
        let b = bytes.startIndex
        let length = Int(bytes[b]) << 16 | Int(bytes[b + 1]) << 8 | Int(bytes[b + 2])
        let type = bytes[b + 3]
        let flags = bytes[b + 4]
        let stream = Self.uint32(bytes, at: b + 5) & 0x7fff_ffff
        guard length <= maxFrameSize else {
            throw H2ConnectionError(.frameSizeError, "frame of \(length) bytes above SETTINGS_MAX_FRAME_SIZE \(maxFrameSize)")
        }
        let total = H2.frameHeaderSize + length
        guard bytes.count >= total else { return .needMore(needed: total) }
        let payload = bytes[(b + H2.frameHeaderSize)..<(b + total)]
        let frame = try Self.frame(type: type, flags: flags, stream: stream, payload: payload)
        return .frame(frame, consumed: total)
    }

    static func frame(type rawType: UInt8, flags: UInt8, stream: UInt32, payload: ArraySlice<UInt8>) throws(H2ConnectionError) -> H2Frame {
        guard let type = H2FrameType(rawValue: rawType) else { return .unknown(type: rawType, stream: stream) }
        switch type {
        case .data:
            try onStream(stream, "DATA")
            let body = try unpadded(payload, flags: flags, "DATA")
            return .data(stream: stream, payload: body, endStream: flags & H2Flag.endStream != 0, flowLength: payload.count)
        case .headers:
            try onStream(stream, "HEADERS")
            var block = try unpadded(payload, flags: flags, "HEADERS")
            if flags & H2Flag.priority != 0 {
                guard block.count >= 5 else { throw H2ConnectionError(.frameSizeError, "HEADERS too short for its priority fields") }
                if uint32(block, at: block.startIndex) & 0x7fff_ffff == stream {
                    throw H2ConnectionError(.protocolError, "HEADERS: stream \(stream) depends on itself")
                }
                block = block.dropFirst(5)
            }
            return .headers(stream: stream, fragment: block, endStream: flags & H2Flag.endStream != 0,
                            endHeaders: flags & H2Flag.endHeaders != 0)
        case .continuation:
            try onStream(stream, "CONTINUATION")
            return .continuation(stream: stream, fragment: payload, endHeaders: flags & H2Flag.endHeaders != 0)
        case .priority:
            try onStream(stream, "PRIORITY")
            guard payload.count == 5 else { throw H2ConnectionError(.frameSizeError, "PRIORITY of \(payload.count) bytes (5)") }
            if uint32(payload, at: payload.startIndex) & 0x7fff_ffff == stream {
                throw H2ConnectionError(.protocolError, "PRIORITY: stream \(stream) depends on itself")
            }
            return .priority(stream: stream)
        case .rstStream:
            try onStream(stream, "RST_STREAM")
            guard payload.count == 4 else { throw H2ConnectionError(.frameSizeError, "RST_STREAM of \(payload.count) bytes (4)") }
            return .rstStream(stream: stream, code: H2ErrorCode(rawValue: uint32(payload, at: payload.startIndex)))
        case .settings:
            try onConnection(stream, "SETTINGS")
            if flags & H2Flag.ack != 0 {
                guard payload.isEmpty else { throw H2ConnectionError(.frameSizeError, "SETTINGS ACK with a payload") }
                return .settingsAck
            }
            guard payload.count % 6 == 0 else {
                throw H2ConnectionError(.frameSizeError, "SETTINGS of \(payload.count) bytes (a multiple of 6)")
            }
            var settings = H2Settings()
            var i = payload.startIndex
            while i < payload.endIndex {
                let id = UInt16(payload[i]) << 8 | UInt16(payload[i + 1])
                try settings.apply(identifier: id, value: uint32(payload, at: i + 2))
                i += 6
            }
            return .settings(settings)
        case .pushPromise:
            // Veil never enables push (SETTINGS_ENABLE_PUSH 0), and a client never receives one
            // as a server: either way a PROTOCOL_ERROR (section 6.6 / 8.4).
            throw H2ConnectionError(.protocolError, "PUSH_PROMISE, push is disabled")
        case .ping:
            try onConnection(stream, "PING")
            guard payload.count == 8 else { throw H2ConnectionError(.frameSizeError, "PING of \(payload.count) bytes (8)") }
            let p = payload.startIndex
            let opaque = UInt64(uint32(payload, at: p)) << 32 | UInt64(uint32(payload, at: p + 4))
            return .ping(opaque: opaque, ack: flags & H2Flag.ack != 0)
        case .goaway:
            try onConnection(stream, "GOAWAY")
            guard payload.count >= 8 else { throw H2ConnectionError(.frameSizeError, "GOAWAY of \(payload.count) bytes (8 or more)") }
            let p = payload.startIndex
            return .goaway(lastStream: uint32(payload, at: p) & 0x7fff_ffff, code: H2ErrorCode(rawValue: uint32(payload, at: p + 4)),
                           debug: payload.dropFirst(8))
        case .windowUpdate:
            guard payload.count == 4 else { throw H2ConnectionError(.frameSizeError, "WINDOW_UPDATE of \(payload.count) bytes (4)") }
            let increment = uint32(payload, at: payload.startIndex) & 0x7fff_ffff
            guard increment > 0 else { throw H2ConnectionError(.protocolError, "WINDOW_UPDATE of 0 on stream \(stream)") }
            return .windowUpdate(stream: stream, increment: increment)
        }
    }

    private static func onStream(_ stream: UInt32, _ name: String) throws(H2ConnectionError) {
        if stream == 0 { throw H2ConnectionError(.protocolError, "\(name) on stream 0") }
    }

    private static func onConnection(_ stream: UInt32, _ name: String) throws(H2ConnectionError) {
        if stream != 0 { throw H2ConnectionError(.protocolError, "\(name) on stream \(stream) (0 only)") }
    }

    /// The payload without its padding (section 6.1): a Pad Length as long as the rest (or
    /// longer) is a PROTOCOL_ERROR; a padded frame too short to hold it, a FRAME_SIZE_ERROR.
    private static func unpadded(_ payload: ArraySlice<UInt8>, flags: UInt8, _ name: String) throws(H2ConnectionError) -> ArraySlice<UInt8> {
        guard flags & H2Flag.padded != 0 else { return payload }
        guard let first = payload.first else { throw H2ConnectionError(.frameSizeError, "padded \(name) without a Pad Length") }
        let pad = Int(first)
        guard pad < payload.count else {
            throw H2ConnectionError(.protocolError, "\(name) padding \(pad) not less than the payload (\(payload.count))")
        }
        return payload[(payload.startIndex + 1)..<(payload.endIndex - pad)]
    }

    static func uint32(_ bytes: ArraySlice<UInt8>, at i: Int) -> UInt32 {
        UInt32(bytes[i]) << 24 | UInt32(bytes[i + 1]) << 16 | UInt32(bytes[i + 2]) << 8 | UInt32(bytes[i + 3])
    }
}
