import Testing
@testable import VeilTLS

/// Decodes a hex string, ignoring whitespace. Traps on bad input (test data only).
func decodeHex(_ string: String) -> [UInt8] {
    let digits = string.utf8.filter { $0 != 0x20 && $0 != 0x0a }
    precondition(digits.count % 2 == 0, "odd hex length")
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: preconditionFailure("bad hex digit")
        }
    }
    var out: [UInt8] = []
    var i = digits.startIndex
    while i < digits.endIndex {
        let hi = digits[i]; let lo = digits[digits.index(after: i)]
        out.append(nibble(hi) << 4 | nibble(lo))
        i = digits.index(i, offsetBy: 2)
    }
    return out
}

extension Fixtures.Record {
    /// The whole record, header included.
    var bytes: [UInt8] { decodeHex(hex) }
    /// The record body (header stripped).
    var body: [UInt8] { Array(bytes.dropFirst(TLSRecordHeader.size)) }
    var side: TLSFlowTracker.Side { fromClient ? .client : .server }
    var contentType: TLSContentType { TLSContentType(rawValue: bytes[0])! }
}

extension Fixtures {
    static let allFlows: [[Record]] = [tls13Curl, tls12Full, tls12Resumed, tls13HRR]

    /// A handshake message's body: the record body without the 4-byte handshake header
    /// (valid for records holding exactly one message).
    static func messageBody(_ record: Record) -> [UInt8] {
        Array(record.body.dropFirst(HandshakeMessage.headerSize))
    }
}

/// Deterministic PRNG (SplitMix64) so fuzz runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

/// Builds synthetic hello messages for cases no real client produces.
enum Build {
    static func u16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func vec8(_ b: [UInt8]) -> [UInt8] { [UInt8(b.count)] + b }
    static func vec16(_ b: [UInt8]) -> [UInt8] { u16(UInt16(b.count)) + b }
    static func list16(_ values: [UInt16]) -> [UInt8] { values.flatMap(u16) }

    static func ext(_ type: UInt16, _ data: [UInt8]) -> [UInt8] { u16(type) + vec16(data) }
    static func sni(_ name: [UInt8]) -> [UInt8] { ext(0, vec16([0] + vec16(name))) }
    static func sni(_ name: String) -> [UInt8] { sni(Array(name.utf8)) }
    static func alpn(_ names: [String]) -> [UInt8] { ext(16, vec16(names.flatMap { vec8(Array($0.utf8)) })) }
    static func versions(_ v: [UInt16]) -> [UInt8] { ext(43, vec8(list16(v))) }
    static func groups(_ g: [UInt16]) -> [UInt8] { ext(10, vec16(list16(g))) }
    static func keyShares(_ g: [UInt16]) -> [UInt8] { ext(51, vec16(g.flatMap { u16($0) + vec16([0x42]) })) }
    static func sigalgs(_ s: [UInt16]) -> [UInt8] { ext(13, vec16(list16(s))) }

    /// A ClientHello body; `extensions` are concatenated `ext(...)` encodings (nil: no extensions block).
    static func clientHello(suites: [UInt16] = [0x1301], sessionID: [UInt8] = [],
                            extensions: [[UInt8]]? = [], trailing: [UInt8] = []) -> [UInt8] {
        var body = u16(0x0303) + [UInt8](repeating: 0x11, count: 32) + vec8(sessionID)
        body += vec16(list16(suites)) + vec8([0])
        if let extensions { body += vec16(extensions.flatMap { $0 }) }
        return body + trailing
    }

    /// A ServerHello body.
    static func serverHello(random: [UInt8] = [UInt8](repeating: 0x22, count: 32), suite: UInt16 = 0x1301,
                            extensions: [[UInt8]]? = []) -> [UInt8] {
        var body = u16(0x0303) + random + vec8([]) + u16(suite) + [0]
        if let extensions { body += vec16(extensions.flatMap { $0 }) }
        return body
    }

    /// A handshake message (header + body).
    static func message(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        HandshakeMessage(type: type, body: body).encoded()
    }

    /// A record (header + body).
    static func record(_ type: TLSContentType, _ body: [UInt8]) -> [UInt8] {
        TLSRecordHeader(contentType: type, legacyVersion: 0x0303, length: body.count).encoded() + body
    }
}

/// A named malformed input for parameterized tests (shown by name, not as a byte dump).
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let body: [UInt8]
    init(_ name: String, _ body: [UInt8]) {
        self.name = name
        self.body = body
    }
    var testDescription: String { name }
}
