// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

extension SocketAddress {
    /// getaddrinfo(3)'s failure, in its own words (gai_strerror).
    public struct LookupError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// The system's resolver (getaddrinfo, AI_ADDRCONFIG) for a TCP connection to `host`:
    /// its IPv4 and IPv6 addresses in the order given, without duplicates (possibly none).
    /// Blocks: never call it on a ring thread.
    public static func lookup(host: String, port: UInt16) throws(LookupError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0 else { throw LookupError(description: String(cString: gai_strerror(rc))) }
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
        return addrs
    }
}
