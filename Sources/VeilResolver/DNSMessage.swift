import VeilWire
import VeilRuntime

/// DNS wire format (RFC 1035), only what a stub resolver needs: a query for one name and type,
/// and the answers of a response (A, AAAA, CNAME, HTTPS; names may be compressed). Pure: bytes in,
/// values out; every malformed input is a `DNSMessage.ParseError`.
public enum DNSMessage {
    public enum RecordType: UInt16, Sendable {
        case a = 1, cname = 5, aaaa = 28, https = 65
    }

    public struct Record: Sendable, Equatable {
        public let name: String
        public let type: UInt16
        public let ttl: UInt32
        /// A/AAAA: the address; CNAME: the target name.
        public let value: String
    }

    public struct Response: Sendable, Equatable {
        public let id: UInt16
        public let rcode: UInt8
        public let truncated: Bool
        public let answers: [Record]
        /// The SOA minimum from the authority section (negative caching, RFC 2308), if any.
        public let negativeTTL: UInt32?
        /// HTTPS records (RFC 9460) that parsed, in answer order.
        public var https: [HTTPSRecord] = []
        /// HTTPS records that did not: an error for their owner name only.
        public var httpsErrors: [HTTPSRecordError] = []
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }

    /// A recursive query (RD set) for `name` with EDNS0 (4096-byte UDP size, which DoH/DoT
    /// ignore but some servers want) and padding off.
    public static func query(id: UInt16, name: String, type: RecordType) throws(ParseError) -> [UInt8] {
        var b: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]
        try appendName(name, to: &b)
        b += [UInt8(type.rawValue >> 8), UInt8(type.rawValue & 0xff), 0, 1]
        // OPT pseudo-record: root name, type 41, class = UDP size 4096, ttl 0, rdlen 0.
        b += [0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]
        return b
    }

    static func appendName(_ name: String, to b: inout [UInt8]) throws(ParseError) {
        var n = name
        if n.hasSuffix(".") { n.removeLast() }
        guard !n.isEmpty, n.utf8.count <= 253 else { throw ParseError("bad name '\(name)'") }
        for label in n.split(separator: ".", omittingEmptySubsequences: false) {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63 else { throw ParseError("bad label in '\(name)'") }
            b.append(UInt8(bytes.count))
            b += bytes
        }
        b.append(0)
    }

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> Response {
        var r = Reader(bytes: bytes)
        guard bytes.count >= 12 else { throw ParseError("response shorter than a DNS header (\(bytes.count) bytes)") }
        let id = try r.u16()
        let flags = try r.u16()
        guard flags & 0x8000 != 0 else { throw ParseError("not a response (QR bit clear)") }
        let qd = Int(try r.u16()), an = Int(try r.u16()), ns = Int(try r.u16())
        _ = try r.u16()
        for _ in 0..<qd {
            _ = try r.name()
            _ = try r.u16(); _ = try r.u16()
        }
        var answers: [Record] = []
        var https: [HTTPSRecord] = []
        var httpsErrors: [HTTPSRecordError] = []
        for _ in 0..<an {
            let name = try r.name()
            let type = try r.u16()
            _ = try r.u16()
            let ttl = try r.u32()
            let len = Int(try r.u16())
            let end = r.offset + len
            guard end <= bytes.count else { throw ParseError("record data past the end") }
            switch type {
            case RecordType.a.rawValue:
                guard len == 4 else { throw ParseError("A record of \(len) bytes") }
                let v = bytes[r.offset..<end].map(String.init).joined(separator: ".")
                answers.append(Record(name: name, type: type, ttl: ttl, value: v))
            case RecordType.aaaa.rawValue:
                guard len == 16 else { throw ParseError("AAAA record of \(len) bytes") }
                answers.append(Record(name: name, type: type, ttl: ttl, value: ipv6String(bytes[r.offset..<end])))
            case RecordType.https.rawValue:
                do {
                    https.append(try HTTPSRecord.parse(name: name, ttl: ttl, rdata: bytes[r.offset..<end]))
                } catch {
                    httpsErrors.append(HTTPSRecordError(name: name, reason: error.description))
                }
            case RecordType.cname.rawValue:
                var sub = r
                let target = try sub.name()
                answers.append(Record(name: name, type: type, ttl: ttl, value: target))
            default:
                break
            }
            r.offset = end
        }
        var negativeTTL: UInt32?
        for _ in 0..<ns {
            _ = try r.name()
            let type = try r.u16()
            _ = try r.u16()
            let ttl = try r.u32()
            let len = Int(try r.u16())
            let end = r.offset + len
            guard end <= bytes.count else { throw ParseError("authority data past the end") }
            if type == 6 {  // SOA: mname, rname, serial, refresh, retry, expire, minimum
                var sub = r
                _ = try sub.name(); _ = try sub.name()
                for _ in 0..<4 { _ = try sub.u32() }
                negativeTTL = min(ttl, try sub.u32())
            }
            r.offset = end
        }
        return Response(id: id, rcode: UInt8(flags & 0x0f), truncated: flags & 0x0200 != 0,
                        answers: answers, negativeTTL: negativeTTL, https: https, httpsErrors: httpsErrors)
    }

    /// Follows CNAMEs from `name` through `answers` (at most 8) and returns the addresses of
    /// the final name with the smallest TTL seen on the way.
    public static func addresses(for name: String, in answers: [Record]) -> (addresses: [String], ttl: UInt32, chain: [String]) {
        var current = name.lowercased().trimmingTrailingDot
        var chain: [String] = []
        var ttl = UInt32.max
        for _ in 0..<8 {
            if let c = answers.first(where: { $0.type == RecordType.cname.rawValue && $0.name.lowercased().trimmingTrailingDot == current }) {
                ttl = min(ttl, c.ttl)
                current = c.value.lowercased().trimmingTrailingDot
                chain.append(current)
            } else {
                break
            }
        }
        let found = answers.filter {
            ($0.type == RecordType.a.rawValue || $0.type == RecordType.aaaa.rawValue) && $0.name.lowercased().trimmingTrailingDot == current
        }
        for f in found { ttl = min(ttl, f.ttl) }
        return (found.map(\.value), found.isEmpty && chain.isEmpty ? 0 : ttl, chain)
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func u8() throws(ParseError) -> UInt8 {
            guard offset < bytes.count else { throw ParseError("truncated message") }
            defer { offset += 1 }
            return bytes[offset]
        }
        mutating func u16() throws(ParseError) -> UInt16 { UInt16(try u8()) << 8 | UInt16(try u8()) }
        mutating func u32() throws(ParseError) -> UInt32 { UInt32(try u16()) << 16 | UInt32(try u16()) }

        /// A possibly compressed name; pointers may only go backwards (no loops).
        mutating func name() throws(ParseError) -> String {
            var labels: [String] = []
            var pos = offset
            var jumped = false
            var total = 0
            while true {
                guard pos < bytes.count else { throw ParseError("truncated name") }
                let len = Int(bytes[pos])
                if len & 0xc0 == 0xc0 {
                    guard pos + 1 < bytes.count else { throw ParseError("truncated name pointer") }
                    let target = (len & 0x3f) << 8 | Int(bytes[pos + 1])
                    guard target < pos else { throw ParseError("name pointer does not point backwards") }
                    if !jumped { offset = pos + 2 }
                    jumped = true
                    pos = target
                    continue
                }
                guard len & 0xc0 == 0 else { throw ParseError("bad label type") }
                if len == 0 {
                    if !jumped { offset = pos + 1 }
                    break
                }
                guard pos + 1 + len <= bytes.count else { throw ParseError("truncated label") }
                total += len + 1
                guard total <= 255 else { throw ParseError("name longer than 255 bytes") }
                labels.append(String(decoding: bytes[(pos + 1)...(pos + len)], as: UTF8.self))
                pos += 1 + len
            }
            return labels.joined(separator: ".")
        }
    }
}

extension String {
    var trimmingTrailingDot: String { hasSuffix(".") ? String(dropLast()) : self }
}
