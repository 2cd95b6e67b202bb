/// Finds where a chunked request body ends (RFC 9112 7.1), byte by byte as it arrives, so that
/// exactly the body is forwarded and nothing after it (a pipelined request for another host)
/// reaches the origin. Chunk sizes, extensions and trailers are bounded; anything malformed is
/// an error.
public struct ChunkedBodyScanner: Sendable {
    public enum Outcome: Equatable {
        /// The first `count` bytes given belong to the body; more is needed.
        case more(count: Int)
        /// The body ends after the first `count` bytes given.
        case done(count: Int)
        case malformed(String)
    }

    private enum State {
        case size(value: Int, digits: Int)
        case chunkExtension(value: Int, length: Int)
        case sizeLF(value: Int)
        case data(left: Int)
        case dataCR
        case dataLF
        /// In the trailer section; `lineLength` of the current line.
        case trailer(lineLength: Int)
        case trailerLF(lineLength: Int)
    }

    private var state = State.size(value: 0, digits: 0)

    public init() {}
    private var trailerBytes = 0

    public mutating func scan(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            switch state {
            case .size(let value, let digits):
                if let d = ChunkedBodyScanner.hexValue(b) {
                    guard digits < 15 else { return .malformed("chunk size too large") }
                    state = .size(value: value << 4 | d, digits: digits + 1)
                } else if digits > 0 && (b == UInt8(ascii: ";") || b == UInt8(ascii: " ") || b == UInt8(ascii: "\t")) {
                    state = .chunkExtension(value: value, length: 0)
                } else if digits > 0 && b == 0x0D {
                    state = .sizeLF(value: value)
                } else {
                    return .malformed("bad chunk size line")
                }
            case .chunkExtension(let value, let length):
                if b == 0x0D {
                    state = .sizeLF(value: value)
                } else {
                    guard length < 1024, b >= 0x20 || b == 0x09, b != 0x7f else { return .malformed("bad chunk extension") }
                    state = .chunkExtension(value: value, length: length + 1)
                }
            case .sizeLF(let value):
                guard b == 0x0A else { return .malformed("chunk size line not ended by CRLF") }
                state = value == 0 ? .trailer(lineLength: 0) : .data(left: value)
            case .data(let left):
                let take = min(left, bytes.count - i)
                i += take
                state = left - take == 0 ? .dataCR : .data(left: left - take)
                continue
            case .dataCR:
                guard b == 0x0D else { return .malformed("chunk data not followed by CRLF") }
                state = .dataLF
            case .dataLF:
                guard b == 0x0A else { return .malformed("chunk data not followed by CRLF") }
                state = .size(value: 0, digits: 0)
            case .trailer(let lineLength):
                trailerBytes += 1
                guard trailerBytes <= 8192 else { return .malformed("trailer section larger than 8 KiB") }
                if b == 0x0D {
                    state = .trailerLF(lineLength: lineLength)
                } else {
                    guard b >= 0x20 || b == 0x09, b != 0x7f else { return .malformed("control character in trailer") }
                    state = .trailer(lineLength: lineLength + 1)
                }
            case .trailerLF(let lineLength):
                guard b == 0x0A else { return .malformed("trailer line not ended by CRLF") }
                if lineLength == 0 { return .done(count: i + 1) }
                state = .trailer(lineLength: 0)
            }
            i += 1
        }
        return .more(count: bytes.count)
    }

    private static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(b - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(b - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(b - UInt8(ascii: "A")) + 10
        default: return nil
        }
    }
}
