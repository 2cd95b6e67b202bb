import VeilRuntime

extension DNSMessage {
    /// A name's HTTPS records from a response: ServiceMode ones by priority (AliasMode ones
    /// after them), with the smallest TTL seen on the way for the cache.
    public struct HTTPSAnswer: Sendable, Equatable {
        public let records: [HTTPSRecord]
        public let ttl: UInt32
        /// The CNAMEs followed from the asked name.
        public let chain: [String]
    }

    /// An HTTPS record of `name` that does not parse: the error belongs to that name only.
    public struct HTTPSRecordError: Error, Sendable, Equatable, CustomStringConvertible {
        public let name: String
        public let reason: String
        public var description: String { "malformed HTTPS record for \(name): \(reason)" }
    }

    /// Follows CNAMEs from `name` (at most 8) and returns the final name's HTTPS records, or the
    /// first malformed one's error. No record at all is an empty answer, not an error.
    public static func https(for name: String, in response: Response) throws(HTTPSRecordError) -> HTTPSAnswer {
        var current = name.lowercased().trimmingTrailingDot
        var chain: [String] = []
        var ttl = UInt32.max
        for _ in 0..<8 {
            guard let c = response.answers.first(where: { $0.type == RecordType.cname.rawValue && $0.name.lowercased().trimmingTrailingDot == current }) else { break }
            ttl = min(ttl, c.ttl)
            current = c.value.lowercased().trimmingTrailingDot
            chain.append(current)
        }
        if let bad = response.httpsErrors.first(where: { $0.name.lowercased().trimmingTrailingDot == current }) {
            throw bad
        }
        let found = response.https.filter { $0.name.lowercased().trimmingTrailingDot == current }
            .sorted { ($0.isAliasMode ? 1 : 0, $0.priority) < ($1.isAliasMode ? 1 : 0, $1.priority) }
        for f in found { ttl = min(ttl, f.ttl) }
        return HTTPSAnswer(records: found, ttl: found.isEmpty && chain.isEmpty ? 0 : ttl, chain: chain)
    }

    /// An IPv6 address's text (RFC 5952 form when the system formats it).
    static func ipv6String(_ bytes: ArraySlice<UInt8>) -> String {
        var groups: [String] = []
        for i in stride(from: bytes.startIndex, to: bytes.endIndex, by: 2) {
            groups.append(String(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]), radix: 16))
        }
        let v = groups.joined(separator: ":")
        return SocketAddress(ip: v, port: 0)?.ipString ?? v
    }
}
