import VeilRuntime
import VeilTLS
import VeilWire

/// Where the relay is and how Veil knows it: its address (an IP, so finding it leaks nothing),
/// the SHA-256 fingerprint of its certificate (pinned; no CA), and the shared secret; and the
/// certificate Veil presents when the relay asks for one (`RelayClientIdentity`).
public struct RelayEndpoint: Sendable {
    public let address: SocketAddress
    public let fingerprint: RelayFingerprint
    public let secret: String
    public var clientCertificate: ServerIdentity?

    public init(address: SocketAddress, fingerprint: RelayFingerprint, secret: String) {
        self.address = address
        self.fingerprint = fingerprint
        self.secret = secret
    }
}
