import VeilRuntime
import VeilTLS

/// Why an intercepted connection ends during its handshakes, as a typed cause; the close reason
/// (`close=` token and sentence, byte for byte what the summary line has always said) is built
/// from it in one place.
enum InterceptFailure: Error, Equatable, Sendable {
    /// The client sent more right after its CONNECT request than its engine takes.
    case earlyBytes(Int)
    /// A handshake record larger than the engine's input.
    case recordTooLarge(capacity: Int)
    /// Bytes that do not frame as TLS records (`notTLS`: the client's very first ones).
    case invalidTLS(TLSParseError, from: TransferSide, notTLS: Bool)
    /// The ClientHello's SNI names another host than the CONNECT request.
    case sniMismatch(sni: String, host: String)
    /// The client sent its own Encrypted Client Hello, whose outer name is not the CONNECT host.
    case clientECH(outerSNI: String, host: String)
    /// No certificate for the client: the minter's error.
    case certificateUnavailable(String)
    /// The upstream engine could not be configured.
    case upstreamSetUp(String)
    /// The client engine could not be configured.
    case clientSetUp(String)
    /// The upstream handshake failed (the client got a handshake_failure alert).
    case upstreamHandshake(TLSEngine.HandshakeFailure)
    /// The upstream server did not accept ECH (what it did).
    case echRejected(String, cacheDropped: Bool)
    /// ECH could not be done (the ClientHello could not be wrapped, a broken answer).
    case echFailed(String)
    /// The client's handshake failed.
    case clientHandshake(TLSEngine.HandshakeFailure)
    /// A side's socket reached EOF before the handshakes were done.
    case closedDuringHandshake(TransferSide)
    /// A socket operation on a side failed with this result (a negative errno).
    case peerFailed(TransferSide, result: Int32)
    /// `--ktls require` and a leg cannot have it (why).
    case kernelTLSRequired(String)
    /// One leg's kTLS install failed after the other's succeeded.
    case kernelTLSHalfInstalled(TransferSide, String)
    /// The handshakes did not end within the handshake timeout.
    case handshakeTimeout(seconds: Double)

    var closeReason: CloseReason {
        switch self {
        case .earlyBytes(let n):
            CloseReason(.badRequest, "client sent \(n) bytes before the tunnel was up")
        case .recordTooLarge(let capacity):
            CloseReason(.handshakeFailed, "handshake record does not fit in \(capacity) bytes")
        case .invalidTLS(let error, let side, let notTLS):
            CloseReason(notTLS ? .notTLS : .handshakeFailed, TransferCloseCause.describe(error, from: side))
        case .sniMismatch(let sni, let host):
            TransferCloseCause.sniMismatch(sni: sni, host: host).reason
        case .clientECH(let outer, let host):
            CloseReason(.sniMismatch, "the client sent Encrypted Client Hello (outer SNI \(outer)) for CONNECT host \(host): an intercepting proxy cannot accept the client's own ECH (Veil does ECH upstream for it); turn ECH off in the client, or allow with --allow-sni-mismatch")
        case .certificateUnavailable(let why):
            CloseReason(.error, "cannot mint a certificate: \(why)")
        case .upstreamSetUp(let why):
            CloseReason(.error, "upstream TLS set-up: \(why)")
        case .clientSetUp(let why):
            CloseReason(.error, "client TLS set-up: \(why)")
        case .upstreamHandshake(.certificate(let why)):
            CloseReason(.upstreamCertificate, "upstream certificate: \(why)")
        case .upstreamHandshake(.failed(let why)):
            CloseReason(.handshakeFailed, "upstream handshake: \(why)")
        case .clientHandshake(let failure):
            CloseReason(.handshakeFailed, "client handshake: \(failure)")
        case .echRejected(let why, let cacheDropped):
            CloseReason(.echRejected, "upstream did not accept Encrypted Client Hello (\(why)); the real name was not sent in clear and no retry without ECH was made. " + (cacheDropped
                ? "The config from DNS may be stale (the site changed its key): its cached HTTPS record was dropped, the next connection asks DNS again"
                : "The --ech-config may be stale (the site changed its key): update it")
                + "; if the server has no ECH, check with veil resolve NAME, or allow this host without ECH (--ech-rule HOST=off)")
        case .echFailed(let why):
            CloseReason(.handshakeFailed, "upstream Encrypted Client Hello: \(why)")
        case .closedDuringHandshake(let side):
            CloseReason(side == .client ? .clientGone : .upstreamGone, "\(side.name) closed during the TLS handshake")
        case .peerFailed(let side, let result):
            CloseReason.peerFailed(client: side == .client, result: result)
        case .kernelTLSRequired(let why):
            CloseReason(.ktlsUnavailable, "--ktls require: \(why)")
        case .kernelTLSHalfInstalled(let side, let why):
            CloseReason(.error, "kTLS install failed on the \(side.name) leg after the other succeeded: \(why)")
        case .handshakeTimeout(let seconds):
            CloseReason(.handshakeTimeout, "TLS handshake not complete within \(InterceptFailure.format(seconds))")
        }
    }

    /// "15s", "0.5s" (as the summary line has always said a duration).
    static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    }
}
