import VeilResolver
import VeilWire
import Synchronization
import VeilRuntime
import VeilTLS

/// What every worker shares: immutable configuration and the few process-wide counters.
final class ProxyShared: Sendable {
    let config: ProxyConfiguration
    let resolver: any Resolver
    /// The plain listener's sockets, one per worker (an SO_REUSEPORT group; empty for `veil relay`).
    let listenFDs: [Int32]
    let recordLogFD: Int32
    let parser: ConnectRequestParser
    let interception: Interception?
    /// The HTTPS proxy listener, when `--listen-tls` is set.
    let front: FrontListener?
    /// `veil relay`: the checks on every CONNECT request (secret, ports, per-client limits).
    let relayGate: RelayGate?
    /// `--route tunnel`: the TLS context for connections to the relay (no chain verification:
    /// the relay's certificate is pinned by fingerprint after the handshake).
    let relayClientContext: TLSContext?
    /// Whether sessions can move onto kTLS here (the start-up probe; `--ktls off` says no).
    let kernelTLS: KernelTLS.Availability
    /// `--max-connections` across all workers.
    let admission: ConnectionAdmission
    /// `--auth`, `--auth-file`: who may use the proxy (nil: anyone).
    let authenticator: ProxyAuthenticator?
    /// Shutdown: when every worker has drained, the workers stop accepting together.
    let drainQuorum: DrainQuorum
    private let nextID = Atomic<UInt64>(1)

    init(config: ProxyConfiguration, resolver: any Resolver, listenFDs: [Int32], recordLogFD: Int32,
         interception: Interception?, front: FrontListener?, relayGate: RelayGate? = nil,
         relayClientContext: TLSContext? = nil) {
        self.relayGate = relayGate
        admission = ConnectionAdmission(limit: config.maxConnections)
        authenticator = config.users.isEmpty ? nil : ProxyAuthenticator(users: config.users)
        kernelTLS = interception?.kernelTLS
            ?? (config.ktls == .off ? .unavailable("--ktls off") : KernelTLS.probe())
        self.relayClientContext = relayClientContext
        self.interception = interception
        self.front = front
        self.config = config
        self.resolver = resolver
        self.listenFDs = listenFDs
        drainQuorum = DrainQuorum(workers: config.workers)
        self.recordLogFD = recordLogFD
        self.parser = ConnectRequestParser(maxHeaderBytes: config.maxHeaderBytes,
                                           allowsResolve: config.relayServer != nil,
                                           allowsForward: config.relayServer == nil)
    }

    func makeConnectionID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// The HTTPS proxy listener's socket and the certificate it presents (minted by Veil's CA for
/// the listen address, or for `--listen-tls-name`; for `veil relay`, its own self-signed
/// certificate, which clients pin).
final class FrontListener: Sendable {
    /// One socket per worker (an SO_REUSEPORT group when there are several).
    let fds: [Int32]
    let address: SocketAddress
    let name: String
    let certificate: MintedCertificate?
    let identity: ServerIdentity?
    /// `veil relay --client-fingerprint`: ask clients for a certificate.
    let askClientCertificate: Bool
    let minter: CertificateMinter
    let context: TLSContext

    init(fds: [Int32], address: SocketAddress, name: String, interception: Interception,
         identity: ServerIdentity? = nil, askClientCertificate: Bool = false) throws {
        self.askClientCertificate = askClientCertificate
        self.fds = fds
        self.address = address
        self.name = name
        self.identity = identity
        minter = interception.minter
        certificate = identity == nil ? try minter.certificate(for: name) : nil
        context = interception.clientContext
    }

    /// Gives `engine` (server role) this listener's certificate.
    func configure(_ engine: TLSEngine) throws {
        if let identity {
            try engine.configureServer(identity: identity)
            if askClientCertificate { engine.requestClientCertificate() }
            // veil relay: HTTP/2 CONNECT for clients that offer it (H2RelaySession), else HTTP/1.1.
            engine.acceptALPN("h2")
        } else if let certificate {
            try engine.configureServer(certificate: certificate, minter: minter, alpn: nil)
        }
    }
}
