import Dispatch
import VeilRuntime
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
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
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0 else {
            return .failure(ResolveAdvice.systemFailed("system resolver: \(host): \(String(cString: gai_strerror(rc)))", host: host, port: port))
        }
        defer { freeaddrinfo(result) }
        var addrs: [SocketAddress] = []
        var p = result
        while let ai = p {
            if let sa = ai.pointee.ai_addr, ai.pointee.ai_family == AF_INET || ai.pointee.ai_family == AF_INET6 {
                var storage = sockaddr_storage()
                withUnsafeMutableBytes(of: &storage) { dst in
                    dst.copyMemory(from: UnsafeRawBufferPointer(start: sa, count: Int(ai.pointee.ai_addrlen)))
                }
                let a = SocketAddress(storage: storage, length: ai.pointee.ai_addrlen)
                if !addrs.contains(a) { addrs.append(a) }
            }
            p = ai.pointee.ai_next
        }
        if addrs.isEmpty { return .failure(ResolveAdvice.systemFailed("system resolver: \(host): no addresses", host: host, port: port)) }
        return .success(ResolvedAddresses(addresses: addrs, source: "system"))
    }
}
