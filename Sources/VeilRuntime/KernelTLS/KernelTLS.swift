internal import CLibURing
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// Kernel TLS (kTLS): whether this kernel offers it, and handing a session's keys to a socket
/// (setsockopt TCP_ULP "tls", then TLS_RX and TLS_TX). Records on such a socket move with
/// `EventLoop.receiveRecord`/`sendRecord` (control records) or plain send, recv and splice.
public enum KernelTLS {
    /// The probe's answer: available, or why not.
    public enum Availability: Sendable, Equatable, CustomStringConvertible {
        case available
        case unavailable(String)

        public var isAvailable: Bool { self == .available }

        public var description: String {
            switch self {
            case .available: return "available"
            case .unavailable(let why): return "not available (\(why))"
            }
        }
    }

    /// Attaches the "tls" ULP to a real established loopback connection: the only reliable test
    /// (the module may be loadable on demand, or absent: ENOENT).
    public static func probe() -> Availability {
        let any = SocketAddress.loopback(port: 0)
        let listener: Int32
        do { listener = try Socket.listen(on: any, backlog: 1) } catch { return .unavailable("probe: \(error)") }
        defer { Socket.close(listener) }
        guard let bound = Socket.localAddress(listener) else { return .unavailable("probe: getsockname failed") }
        let client: Int32
        do { client = try Socket.makeTCP(family: bound.family) } catch { return .unavailable("probe: \(error)") }
        defer { Socket.close(client) }
        var storage = bound.storage
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(client, $0, bound.length) }
        }
        guard rc == 0 else { return .unavailable("probe: connect: \(SystemError.message(of: errno))") }
        let server = accept(listener, nil, nil)
        defer { Socket.close(server) }
        let attach = veil_ktls_attach(client)
        if attach == 0 { return .available }
        if attach == -ENOENT {
            return .unavailable("setsockopt TCP_ULP \"tls\": \(SystemError.message(of: -attach)); the kernel lacks CONFIG_TLS or the tls module is not loaded")
        }
        return .unavailable("setsockopt TCP_ULP \"tls\": \(SystemError.message(of: -attach))")
    }

    /// Attaches the ULP and installs receive, then transmit keys. Returns nil, or what failed.
    public static func install(fd: Int32, transmit: KernelTLSKeys, receive: KernelTLSKeys) -> String? {
        var rc = veil_ktls_attach(fd)
        if rc != 0 { return "TCP_ULP tls: \(SystemError.message(of: -rc))" }
        rc = veil_ktls_install(fd, 0, receive.version, receive.cipher.rawValue, receive.key, receive.iv, receive.sequence)
        if rc != 0 { return "TLS_RX: \(SystemError.message(of: -rc))" }
        rc = veil_ktls_install(fd, 1, transmit.version, transmit.cipher.rawValue, transmit.key, transmit.iv, transmit.sequence)
        if rc != 0 { return "TLS_TX: \(SystemError.message(of: -rc))" }
        return nil
    }
}
