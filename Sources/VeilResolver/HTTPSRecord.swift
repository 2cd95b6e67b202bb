/// One HTTPS resource record (RFC 9460, type 65): priority (0 is AliasMode), target name and,
/// in ServiceMode, its SvcParams. `ttl` is kept for the cache.
public struct HTTPSRecord: Sendable, Equatable {
    /// The owner name.
    public let name: String
    public let ttl: UInt32
    public let priority: UInt16
    /// "." (the root) means the owner name itself in ServiceMode (RFC 9460 section 2.5.2).
    public let targetName: String
    /// Empty in AliasMode, where the RFC says to ignore any (section 2.4.2).
    public let params: SvcParams
    /// The record data as received (the relay passes it on whole; RESOLVE's `Veil-HTTPS`).
    public let rdata: [UInt8]

    public var isAliasMode: Bool { priority == 0 }

    /// Parses the record data: SvcPriority, TargetName (uncompressed, section 2.2), SvcParams.
    public static func parse(name: String, ttl: UInt32, rdata: ArraySlice<UInt8>) throws(DNSMessage.ParseError) -> HTTPSRecord {
        guard rdata.count >= 3 else { throw .init("record data of \(rdata.count) bytes") }
        let priority = UInt16(rdata[rdata.startIndex]) << 8 | UInt16(rdata[rdata.startIndex + 1])
        var i = rdata.startIndex + 2
        var labels: [String] = []
        var total = 0
        while true {
            guard i < rdata.endIndex else { throw .init("TargetName truncated") }
            let n = Int(rdata[i])
            if n == 0 { i += 1; break }
            guard n & 0xc0 == 0 else { throw .init("TargetName compressed or with a bad label type (RFC 9460 forbids compression)") }
            guard rdata.endIndex - (i + 1) >= n else { throw .init("TargetName label past the record's end") }
            total += n + 1
            guard total <= 255 else { throw .init("TargetName longer than 255 bytes") }
            labels.append(String(decoding: rdata[(i + 1)...(i + n)], as: UTF8.self))
            i += 1 + n
        }
        let params = priority == 0 ? SvcParams() : try SvcParams.parse(rdata[i...])
        return HTTPSRecord(name: name, ttl: ttl, priority: priority,
                           targetName: labels.isEmpty ? "." : labels.joined(separator: "."), params: params,
                           rdata: Array(rdata))
    }
}

extension HTTPSRecord: CustomStringConvertible {
    /// Presentation form without the owner: `1 . alpn=h2 port=8443 ech=(66 bytes)`.
    public var description: String {
        var parts = [String(priority), targetName.hasSuffix(".") ? targetName : targetName + "."]
        if !params.mandatory.isEmpty { parts.append("mandatory=" + params.mandatory.map(SvcParams.name).joined(separator: ",")) }
        if !params.alpn.isEmpty { parts.append("alpn=" + params.alpn.joined(separator: ",")) }
        if params.noDefaultALPN { parts.append("no-default-alpn") }
        if let port = params.port { parts.append("port=\(port)") }
        if !params.ipv4Hints.isEmpty { parts.append("ipv4hint=" + params.ipv4Hints.joined(separator: ",")) }
        if let ech = params.ech { parts.append("ech=(\(ech.count) bytes)") }
        if !params.ipv6Hints.isEmpty { parts.append("ipv6hint=" + params.ipv6Hints.joined(separator: ",")) }
        for u in params.unknown { parts.append("key\(u.key)=(\(u.value.count) bytes)") }
        return parts.joined(separator: " ")
    }
}
