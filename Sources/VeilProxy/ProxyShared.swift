import Synchronization
import VeilRuntime
import VeilTLS

/// What every worker shares: immutable configuration and the few process-wide counters.
final class ProxyShared: Sendable {
    let config: ProxyConfiguration
    let resolver: any Resolver
    let listenFD: Int32
    let recordLogFD: Int32
    let parser: ConnectRequestParser
    let interception: Interception?
    /// The HTTPS proxy listener, when `--listen-tls` is set.
    let front: FrontListener?
    private let nextID = Atomic<UInt64>(1)

    init(config: ProxyConfiguration, resolver: any Resolver, listenFD: Int32, recordLogFD: Int32,
         interception: Interception?, front: FrontListener?) {
        self.interception = interception
        self.front = front
        self.config = config
        self.resolver = resolver
        self.listenFD = listenFD
        self.recordLogFD = recordLogFD
        self.parser = ConnectRequestParser(maxHeaderBytes: config.maxHeaderBytes)
    }

    func makeConnectionID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// The HTTPS proxy listener's socket and the certificate it presents (minted by Veil's CA for
/// the listen address, or for `--listen-tls-name`).
final class FrontListener: Sendable {
    let fd: Int32
    let address: SocketAddress
    let name: String
    let certificate: MintedCertificate
    let minter: CertificateMinter
    let context: TLSContext

    init(fd: Int32, address: SocketAddress, name: String, interception: Interception) throws {
        self.fd = fd
        self.address = address
        self.name = name
        minter = interception.minter
        certificate = try minter.certificate(for: name)
        context = interception.clientContext
    }
}
