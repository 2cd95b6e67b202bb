import Testing
@testable import VeilHTTP2

private func frame(_ type: UInt8, _ flags: UInt8, _ stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
    var out: [UInt8] = [UInt8(payload.count >> 16 & 0xff), UInt8(payload.count >> 8 & 0xff), UInt8(payload.count & 0xff), type, flags]
    out += [UInt8(stream >> 24 & 0xff), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
    return out + payload
}

private func parsed(_ bytes: [UInt8], max: Int = H2.defaultMaxFrameSize) throws -> H2Frame {
    switch try H2FrameParser(maxFrameSize: max).parse(bytes[...]) {
    case .frame(let f, let consumed):
        #expect(consumed == bytes.count)
        return f
    case .needMore(let n):
        Issue.record("needMore \(n)")
        return .unknown(type: 0xff, stream: 0)
    }
}

private func failure(_ bytes: [UInt8], max: Int = H2.defaultMaxFrameSize) -> H2ConnectionError? {
    do {
        _ = try H2FrameParser(maxFrameSize: max).parse(bytes[...])
        return nil
    } catch {
        return error
    }
}

@Suite("H2FrameParser")
struct H2FrameParserTests {
    @Test func dataPlainAndPadded() throws {
        #expect(try parsed(frame(0, 1, 3, [1, 2, 3])) == .data(stream: 3, payload: [1, 2, 3][...], endStream: true, flowLength: 3))
        let f = try parsed(frame(0, H2Flag.padded, 5, [2, 9, 8, 0, 0]))
        guard case .data(5, let payload, false, 5) = f else { Issue.record("\(f)"); return }
        #expect(Array(payload) == [9, 8])
        // Padding only (Pad Length 0 and nothing else) is fine.
        guard case .data(1, let none, false, 1) = try parsed(frame(0, H2Flag.padded, 1, [0])) else { Issue.record(); return }
        #expect(none.isEmpty)
    }

    @Test func paddingErrors() {
        #expect(failure(frame(0, H2Flag.padded, 1, [3, 1, 2]))?.code == .protocolError)
        #expect(failure(frame(0, H2Flag.padded, 1, []))?.code == .frameSizeError)
        #expect(failure(frame(1, H2Flag.padded | H2Flag.endHeaders, 1, [1]))?.code == .protocolError)
    }

    @Test func headersWithPriorityAndPadding() throws {
        let flags = H2Flag.padded | H2Flag.priority | H2Flag.endHeaders
        let f = try parsed(frame(1, flags, 1, [1, 0, 0, 0, 0, 16, 0x82, 0x84, 0]))
        guard case .headers(1, let block, false, true) = f else { Issue.record("\(f)"); return }
        #expect(Array(block) == [0x82, 0x84])
        #expect(failure(frame(1, H2Flag.priority, 1, [0, 0, 0]))?.code == .frameSizeError)
        #expect(failure(frame(1, H2Flag.priority, 3, [0, 0, 0, 3, 16]))?.code == .protocolError)
    }

    @Test func streamZeroAndNonZeroRules() {
        #expect(failure(frame(0, 0, 0, [1]))?.code == .protocolError)            // DATA on 0
        #expect(failure(frame(1, 4, 0, [0x82]))?.code == .protocolError)         // HEADERS on 0
        #expect(failure(frame(9, 4, 0, []))?.code == .protocolError)             // CONTINUATION on 0
        #expect(failure(frame(2, 0, 0, [0, 0, 0, 1, 0]))?.code == .protocolError) // PRIORITY on 0
        #expect(failure(frame(3, 0, 0, [0, 0, 0, 8]))?.code == .protocolError)   // RST_STREAM on 0
        #expect(failure(frame(4, 0, 1, []))?.code == .protocolError)             // SETTINGS on 1
        #expect(failure(frame(6, 0, 1, [0, 0, 0, 0, 0, 0, 0, 0]))?.code == .protocolError)
        #expect(failure(frame(7, 0, 1, [0, 0, 0, 0, 0, 0, 0, 0]))?.code == .protocolError)
    }

    @Test func fixedLengths() {
        #expect(failure(frame(2, 0, 1, [0, 0, 0, 3]))?.code == .frameSizeError)
        #expect(failure(frame(3, 0, 1, [0, 0, 8]))?.code == .frameSizeError)
        #expect(failure(frame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0]))?.code == .frameSizeError)
        #expect(failure(frame(7, 0, 0, [0, 0, 0, 0, 0, 0, 0]))?.code == .frameSizeError)
        #expect(failure(frame(8, 0, 0, [0, 0, 1]))?.code == .frameSizeError)
        #expect(failure(frame(4, H2Flag.ack, 0, [0]))?.code == .frameSizeError)
        #expect(failure(frame(4, 0, 0, [0, 1, 0, 0, 0]))?.code == .frameSizeError)
    }

    @Test func settings() throws {
        let f = try parsed(frame(4, 0, 0, [0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0, 0, 0x55, 1, 2, 3, 4, 0, 2, 0, 0, 0, 0]))
        #expect(f == .settings(H2Settings(enablePush: false, maxConcurrentStreams: 100, initialWindowSize: 65_536)))
        #expect(try parsed(frame(4, H2Flag.ack, 0, [])) == .settingsAck)
        #expect(failure(frame(4, 0, 0, [0, 2, 0, 0, 0, 2]))?.code == .protocolError)
        #expect(failure(frame(4, 0, 0, [0, 4, 0x80, 0, 0, 0]))?.code == .flowControlError)
        #expect(failure(frame(4, 0, 0, [0, 5, 0, 0, 0x3f, 0xff]))?.code == .protocolError)
        #expect(failure(frame(4, 0, 0, [0, 5, 1, 0, 0, 0]))?.code == .protocolError)
        #expect(try parsed(frame(4, 0, 0, [0, 5, 0, 0xff, 0xff, 0xff])) == .settings(H2Settings(maxFrameSize: 16_777_215)))
    }

    @Test func controlFrames() throws {
        #expect(try parsed(frame(6, 1, 0, [1, 2, 3, 4, 5, 6, 7, 8])) == .ping(opaque: 0x0102_0304_0506_0708, ack: true))
        let g = try parsed(frame(7, 0, 0, [0x80, 0, 0, 7, 0, 0, 0, 2, 0x41]))
        #expect(g == .goaway(lastStream: 7, code: .internalError, debug: [0x41][...].dropFirst(0)))
        #expect(try parsed(frame(8, 0, 3, [0x80, 0, 1, 0])) == .windowUpdate(stream: 3, increment: 256))
        #expect(failure(frame(8, 0, 0, [0x80, 0, 0, 0]))?.code == .protocolError)
        #expect(try parsed(frame(3, 0, 1, [0, 0, 0, 8])) == .rstStream(stream: 1, code: .cancel))
        #expect(try parsed(frame(2, 0, 3, [0, 0, 0, 1, 9])) == .priority(stream: 3))
        #expect(try parsed(frame(9, 4, 3, [0x82])) == .continuation(stream: 3, fragment: [0x82][...], endHeaders: true))
    }

    @Test func unknownTypesAndReservedBit() throws {
        #expect(try parsed(frame(0xfa, 0xff, 0x8000_0003, [1, 2, 3])) == .unknown(type: 0xfa, stream: 3))
        #expect(try parsed(frame(0, 0, 0x8000_0001, [])).stream == 1)
    }

    @Test func pushPromiseRejected() {
        #expect(failure(frame(5, 4, 1, [0, 0, 0, 2, 0x82]))?.code == .protocolError)
    }

    @Test func lengthLimit() throws {
        let big = [UInt8](repeating: 0, count: H2.defaultMaxFrameSize + 1)
        #expect(failure(frame(0, 0, 1, big))?.code == .frameSizeError)
        // Refused from the header alone, before the payload arrives.
        #expect(failure(Array(frame(0, 0, 1, big).prefix(9)))?.code == .frameSizeError)
        _ = try parsed(frame(0, 0, 1, big), max: 32_768)
    }

    @Test func truncatedInputAsksForMore() throws {
        let whole = frame(6, 0, 0, [1, 2, 3, 4, 5, 6, 7, 8])
        for n in 0..<whole.count {
            let outcome = try H2FrameParser().parse(whole.prefix(n))
            #expect(outcome == .needMore(needed: n < 9 ? 9 : 17))
        }
    }

    @Test func sliceInTheMiddleOfABuffer() throws {
        let two = frame(6, 0, 0, [0, 0, 0, 0, 0, 0, 0, 1]) + frame(8, 0, 0, [0, 0, 0, 9])
        let p = H2FrameParser()
        guard case .frame(_, let n) = try p.parse(two[...]) else { Issue.record(); return }
        #expect(try p.parse(two[n...]) == .frame(.windowUpdate(stream: 0, increment: 9), consumed: 13))
    }

    /// Garbage never traps: random buffers give a frame, a request for more, or an error.
    @Test func garbage() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let n = Int.random(in: 0..<64, using: &rng)
            var bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if n > 3 { bytes[0] = 0; bytes[1] = 0; bytes[3] = UInt8.random(in: 0...10, using: &rng) }
            if n > 2 { bytes[2] = UInt8(min(n - 9 + Int.random(in: -2...2, using: &rng), 255).clamped) }
            _ = try? H2FrameParser().parse(bytes[...])
        }
    }
}

private extension Int {
    var clamped: Int { Swift.max(0, Swift.min(self, 255)) }
}

@Suite("H2FrameWriter")
struct H2FrameWriterTests {
    @Test func roundTrips() throws {
        var out: [UInt8] = []
        H2FrameWriter.data(stream: 1, payload: [1, 2], endStream: true, into: &out)
        H2FrameWriter.rstStream(stream: 3, code: .refusedStream, into: &out)
        H2FrameWriter.settings(H2Settings(enablePush: false, initialWindowSize: 1 << 20), into: &out)
        H2FrameWriter.settingsAck(into: &out)
        H2FrameWriter.ping(opaque: 42, ack: false, into: &out)
        H2FrameWriter.goaway(lastStream: 5, code: .noError, debug: Array("bye".utf8), into: &out)
        H2FrameWriter.windowUpdate(stream: 0, increment: 1000, into: &out)
        let expected: [H2Frame] = [
            .data(stream: 1, payload: [1, 2][...], endStream: true, flowLength: 2),
            .rstStream(stream: 3, code: .refusedStream),
            .settings(H2Settings(enablePush: false, initialWindowSize: 1 << 20)),
            .settingsAck,
            .ping(opaque: 42, ack: false),
            .goaway(lastStream: 5, code: .noError, debug: Array("bye".utf8)[...]),
            .windowUpdate(stream: 0, increment: 1000),
        ]
        var rest = out[...]
        for e in expected {
            guard case .frame(let f, let n) = try H2FrameParser().parse(rest) else { Issue.record(); return }
            // Slices compare by elements.
            #expect(f == e)
            rest = rest.dropFirst(n)
        }
        #expect(rest.isEmpty)
    }

    @Test func headersSplitIntoContinuations() throws {
        var out: [UInt8] = []
        let block = [UInt8](repeating: 0x82, count: 40_000)
        H2FrameWriter.headers(stream: 7, block: block[...], endStream: false, maxFrameSize: 16_384, into: &out)
        var rest = out[...]
        var got: [UInt8] = []
        var kinds: [String] = []
        while !rest.isEmpty {
            guard case .frame(let f, let n) = try H2FrameParser().parse(rest) else { Issue.record(); return }
            switch f {
            case .headers(7, let b, false, let end): got += b; kinds.append("H\(end)")
            case .continuation(7, let b, let end): got += b; kinds.append("C\(end)")
            default: Issue.record("\(f)")
            }
            rest = rest.dropFirst(n)
        }
        #expect(got == block)
        #expect(kinds == ["Hfalse", "Cfalse", "Ctrue"])
    }
}
