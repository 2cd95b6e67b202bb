import VeilWire
import Dispatch
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// getaddrinfo(3) on a background queue: plain, unencrypted DNS, so only used when enabled
/// explicitly (`--resolver system`). Never runs on a ring thread.
public struct SystemResolver: Resolver {
    public let name = "system"
    private let queue = DispatchQueue(label: "veil.system-resolver", attributes: .concurrent)

    public init() {}

    public func resolve(host: String, port: UInt16,
                        completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome? {
        queue.async { completion(SystemResolver.lookup(host: host, port: port)) }
        return nil
    }

    static func lookup(host: String, port: UInt16) -> ResolveOutcome {
        let addrs: [SocketAddress]
        do { addrs = try SocketAddress.lookup(host: host, port: port) } catch {
            return .failure(ResolveAdvice.systemFailed("system resolver: \(host): \(error)", host: host, port: port))
        }
        if addrs.isEmpty { return .failure(ResolveAdvice.systemFailed("system resolver: \(host): no addresses", host: host, port: port)) }
        return .success(ResolvedAddresses(addresses: addrs, source: "system"))
    }
}
