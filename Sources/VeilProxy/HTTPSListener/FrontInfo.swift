/// What the summary line says about the HTTPS listener's outer TLS session.
struct FrontInfo: Equatable {
    let tls: String
    let cipher: String
    /// Nil when the connection never got past the outer handshake.
    let path: ConnectionSummary.DataPath?
    /// Why the outer session is not on kTLS, when kTLS was wanted.
    let note: String?
    /// In userspace: who protected the outer records (veil or openssl), and why not veil.
    var records: String? = nil
    var recordsNote: String? = nil
    /// How the client ended the outer session (see StreamEnd).
    var end: StreamEnd? = nil
    /// SHA-256 of the client's certificate, when the relay asked for one and got it.
    var clientCertificate: [UInt8]? = nil
    /// The protocol the outer session negotiated (ALPN), when one was: "h2" at `veil relay`
    /// carries HTTP/2 CONNECT streams (H2RelaySession).
    var alpn: String? = nil
    /// The HTTP/2 stream a relay connection came on (H2RelaySession).
    var h2Stream: UInt32? = nil
}
