import VeilWire
import VeilRuntime

/// The `--resolve HOST:PORT:ADDR` map (curl's syntax). Answers synchronously.
public struct StaticResolver: Resolver {
    public let name = "static"
    private let table: [String: [SocketAddress]]

    public init(entries: [StaticResolveEntry]) {
        var table: [String: [SocketAddress]] = [:]
        for e in entries {
            let addrs = e.addresses.compactMap { SocketAddress(ip: $0.host, port: e.port) }
            table[StaticResolver.key(e.host, e.port), default: []].append(contentsOf: addrs)
        }
        self.table = table
    }

    public var isEmpty: Bool { table.isEmpty }

    static func key(_ host: String, _ port: UInt16) -> String { host.lowercased() + ":" + String(port) }

    public func lookup(host: String, port: UInt16) -> [SocketAddress]? {
        table[StaticResolver.key(host, port)]
    }

    public func resolve(host: String, port: UInt16,
                        completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        if let addrs = lookup(host: host, port: port) {
            return .success(ResolvedAddresses(addresses: addrs, source: name))
        }
        return .failure("no --resolve entry for \(host):\(port)")
    }
}
