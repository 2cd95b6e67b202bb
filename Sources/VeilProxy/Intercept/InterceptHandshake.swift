import VeilTLS

/// The handshake states' data: both legs, the certificate for the client, the session offered
/// upstream and the handshake deadline.
final class InterceptHandshake {
    enum Certificate {
        /// Not asked for yet (no ClientHello yet).
        case notAsked
        /// Asked for (cache or mint), not here yet.
        case pending
        case ready(MintedCertificate)
    }

    let client: TLSLeg
    /// Replaced once by a retry after an ECH rejection (a fresh config, a new connection).
    var upstream: TLSLeg
    /// ECH on the upstream leg (the settings' decision, or the retry's fresh config).
    var ech: UpstreamECH = .off
    /// The ALPN list the client offered (offered upstream again by a retry).
    var alpn: [String] = []
    /// The one retry after an ECH rejection was made; why the first attempt was rejected.
    var echRetried = false
    var echRejection = ""
    /// The handshake timeout's deadline.
    var deadline: UInt64 = 0
    var certificate = Certificate.notAsked
    /// The session cache key of the ticket offered upstream, if one was.
    var offeredSession: String?
    /// When the upstream handshake started, and how long it took.
    var upstreamStarted: UInt64 = 0
    var upstreamNanos: UInt64 = 0

    init(client: TLSLeg, upstream: TLSLeg) {
        self.client = client
        self.upstream = upstream
    }

    func leg(_ side: TransferSide) -> TLSLeg { side == .client ? client : upstream }
}
