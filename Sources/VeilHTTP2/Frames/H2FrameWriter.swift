/// Writes frames into a byte buffer (appends; the caller owns and reuses the buffer).
public enum H2FrameWriter {
    public static func header(length: Int, type: H2FrameType, flags: UInt8, stream: UInt32, into out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
        out.append(type.rawValue)
        out.append(flags)
        append32(stream & 0x7fff_ffff, into: &out)
    }

    /// One DATA frame (the caller keeps `payload` within the peer's frame size and windows).
    public static func data(stream: UInt32, payload: some Collection<UInt8>, endStream: Bool, into out: inout [UInt8]) {
        header(length: payload.count, type: .data, flags: endStream ? H2Flag.endStream : 0, stream: stream, into: &out)
        out.append(contentsOf: payload)
    }

    /// A field block as HEADERS plus as many CONTINUATION frames as `maxFrameSize` needs.
    public static func headers(stream: UInt32, block: ArraySlice<UInt8>, endStream: Bool, maxFrameSize: Int, into out: inout [UInt8]) {
        var rest = block
        var first = true
        repeat {
            let chunk = rest.prefix(maxFrameSize)
            rest = rest.dropFirst(chunk.count)
            var flags: UInt8 = rest.isEmpty ? H2Flag.endHeaders : 0
            if first && endStream { flags |= H2Flag.endStream }
            header(length: chunk.count, type: first ? .headers : .continuation, flags: flags, stream: stream, into: &out)
            out.append(contentsOf: chunk)
            first = false
        } while !rest.isEmpty
    }

    public static func rstStream(stream: UInt32, code: H2ErrorCode, into out: inout [UInt8]) {
        header(length: 4, type: .rstStream, flags: 0, stream: stream, into: &out)
        append32(code.rawValue, into: &out)
    }

    public static func settings(_ settings: H2Settings, into out: inout [UInt8]) {
        let pairs = settings.pairs
        header(length: pairs.count * 6, type: .settings, flags: 0, stream: 0, into: &out)
        for (id, value) in pairs {
            out.append(UInt8(id >> 8))
            out.append(UInt8(truncatingIfNeeded: id))
            append32(value, into: &out)
        }
    }

    public static func settingsAck(into out: inout [UInt8]) {
        header(length: 0, type: .settings, flags: H2Flag.ack, stream: 0, into: &out)
    }

    public static func ping(opaque: UInt64, ack: Bool, into out: inout [UInt8]) {
        header(length: 8, type: .ping, flags: ack ? H2Flag.ack : 0, stream: 0, into: &out)
        append32(UInt32(truncatingIfNeeded: opaque >> 32), into: &out)
        append32(UInt32(truncatingIfNeeded: opaque), into: &out)
    }

    public static func goaway(lastStream: UInt32, code: H2ErrorCode, debug: some Collection<UInt8>, into out: inout [UInt8]) {
        header(length: 8 + debug.count, type: .goaway, flags: 0, stream: 0, into: &out)
        append32(lastStream & 0x7fff_ffff, into: &out)
        append32(code.rawValue, into: &out)
        out.append(contentsOf: debug)
    }

    public static func windowUpdate(stream: UInt32, increment: UInt32, into out: inout [UInt8]) {
        header(length: 4, type: .windowUpdate, flags: 0, stream: stream, into: &out)
        append32(increment & 0x7fff_ffff, into: &out)
    }

    static func append32(_ v: UInt32, into out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: v >> 24))
        out.append(UInt8(truncatingIfNeeded: v >> 16))
        out.append(UInt8(truncatingIfNeeded: v >> 8))
        out.append(UInt8(truncatingIfNeeded: v))
    }
}
