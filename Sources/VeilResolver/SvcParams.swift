import VeilRuntime
import VeilTLS

/// The SvcParams of an HTTPS/SVCB record (RFC 9460 section 2.2, 7; `ech` from RFC 9848), parsed
/// and checked as section 2.2 and 8 require: keys strictly increasing, each known key's value
/// well formed, every key named by `mandatory` present. Keys Veil does not know are kept raw.
public struct SvcParams: Sendable, Equatable {
    public enum Key: UInt16, Sendable {
        case mandatory = 0, alpn = 1, noDefaultALPN = 2, port = 3, ipv4hint = 4, ech = 5, ipv6hint = 6
    }

    public struct Unknown: Sendable, Equatable {
        public let key: UInt16
        public let value: [UInt8]
    }

    /// Every key, in wire (increasing) order.
    public private(set) var keys: [UInt16] = []
    public private(set) var mandatory: [UInt16] = []
    public private(set) var alpn: [String] = []
    public private(set) var noDefaultALPN = false
    public private(set) var port: UInt16?
    public private(set) var ipv4Hints: [String] = []
    /// The ECHConfigList, its 2-byte length included (parse it with `ECHConfigList.parse`).
    public private(set) var ech: [UInt8]?
    public private(set) var ipv6Hints: [String] = []
    public private(set) var unknown: [Unknown] = []

    public init() {}

    /// Parses the SvcParams that fill `bytes`.
    static func parse(_ bytes: ArraySlice<UInt8>) throws(DNSMessage.ParseError) -> SvcParams {
        var p = SvcParams()
        var i = bytes.startIndex
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }
        while i < bytes.endIndex {
            guard bytes.endIndex - i >= 4 else { throw .init("SvcParam header truncated") }
            let key = u16(i), length = Int(u16(i + 2))
            guard bytes.endIndex - (i + 4) >= length else { throw .init("SvcParam \(name(key)) value of \(length) bytes past the record's end") }
            if let last = p.keys.last, key <= last {
                throw .init("SvcParam keys not in strictly increasing order (\(name(key)) after \(name(last)))")
            }
            p.keys.append(key)
            try p.set(key, bytes[(i + 4)..<(i + 4 + length)])
            i += 4 + length
        }
        for key in p.mandatory where !p.keys.contains(key) {
            throw .init("mandatory SvcParam \(name(key)) missing")
        }
        if p.noDefaultALPN && p.alpn.isEmpty { throw .init("no-default-alpn without alpn") }
        return p
    }

    private mutating func set(_ key: UInt16, _ v: ArraySlice<UInt8>) throws(DNSMessage.ParseError) {
        switch Key(rawValue: key) {
        case .mandatory:
            guard !v.isEmpty, v.count % 2 == 0 else { throw .init("mandatory of \(v.count) bytes") }
            var listed: [UInt16] = []
            for j in stride(from: v.startIndex, to: v.endIndex, by: 2) {
                let k = UInt16(v[j]) << 8 | UInt16(v[j + 1])
                guard k != Key.mandatory.rawValue else { throw .init("mandatory lists itself") }
                if let last = listed.last, k <= last { throw .init("mandatory keys not strictly increasing") }
                listed.append(k)
            }
            mandatory = listed
        case .alpn:
            guard !v.isEmpty else { throw .init("empty alpn") }
            var j = v.startIndex
            while j < v.endIndex {
                let n = Int(v[j])
                guard n > 0, v.endIndex - (j + 1) >= n else { throw .init("alpn id of \(n) bytes (empty, or past the value's end)") }
                alpn.append(String(decoding: v[(j + 1)..<(j + 1 + n)], as: UTF8.self))
                j += 1 + n
            }
        case .noDefaultALPN:
            guard v.isEmpty else { throw .init("no-default-alpn with a value of \(v.count) bytes") }
            noDefaultALPN = true
        case .port:
            guard v.count == 2 else { throw .init("port of \(v.count) bytes") }
            port = UInt16(v[v.startIndex]) << 8 | UInt16(v[v.startIndex + 1])
        case .ipv4hint:
            guard !v.isEmpty, v.count % 4 == 0 else { throw .init("ipv4hint of \(v.count) bytes") }
            for j in stride(from: v.startIndex, to: v.endIndex, by: 4) {
                ipv4Hints.append(v[j..<(j + 4)].map(String.init).joined(separator: "."))
            }
        case .ech:
            guard !v.isEmpty else { throw .init("empty ech") }
            ech = Array(v)
        case .ipv6hint:
            guard !v.isEmpty, v.count % 16 == 0 else { throw .init("ipv6hint of \(v.count) bytes") }
            for j in stride(from: v.startIndex, to: v.endIndex, by: 16) {
                ipv6Hints.append(DNSMessage.ipv6String(v[j..<(j + 16)]))
            }
        case nil:
            unknown.append(Unknown(key: key, value: Array(v)))
        }
    }

    /// A key's presentation name (RFC 9460 section 14.3.2), e.g. `alpn`, `key65000`.
    public static func name(_ key: UInt16) -> String {
        switch Key(rawValue: key) {
        case .mandatory: "mandatory"
        case .alpn: "alpn"
        case .noDefaultALPN: "no-default-alpn"
        case .port: "port"
        case .ipv4hint: "ipv4hint"
        case .ech: "ech"
        case .ipv6hint: "ipv6hint"
        case nil: "key" + String(key)
        }
    }

    private func name(_ key: UInt16) -> String { Self.name(key) }
}

extension SvcParams {
    /// The `ech` value parsed (RFC 9849 section 4), or nil when the record has none.
    public func echConfigList() throws(ECHConfigError) -> ECHConfigList? {
        guard let ech else { return nil }
        return try ECHConfigList.parse(ech)
    }
}
