/// A pinned SHA-256 certificate fingerprint: 32 bytes, written `AA:BB:...` (uppercase, colons)
/// and read with or without colons, in either case.
public struct RelayFingerprint: Sendable, Equatable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Parses 64 hex digits, optionally separated by colons (`ab:cd:...` or `abcd...`).
    public init?(parsing text: String) {
        let digits = text.trimmingWhitespace().filter { $0 != ":" }
        guard digits.count == 64 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(32)
        var high: UInt8?
        for c in digits.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        self.init(bytes: out)
    }

    /// `AA:BB:...`, as `veil relay` prints it.
    public var description: String { RelayFingerprint.format(bytes) }

    /// Any digest as uppercase hex pairs joined by colons.
    public static func format(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 3)
        for (i, b) in bytes.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ":")) }
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xf)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares in constant time (the fingerprint is public, but the habit costs nothing).
    public func matches(_ other: [UInt8]) -> Bool { ConstantTime.equal(bytes, other) }
}

extension String {
    /// Without leading and trailing spaces, tabs, CR and LF.
    public func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
