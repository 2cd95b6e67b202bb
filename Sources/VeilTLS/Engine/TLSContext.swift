internal import COpenSSL
internal import COpenSSLShims

/// An OpenSSL SSL_CTX configured once at start-up and shared by every engine (SSL_CTX is safe
/// to use from several threads once configured).
///
/// - `upstream`: Veil as a TLS client. Verifies chains against the system trust store plus
///   optional extra anchors, TLS 1.2 minimum, modern groups, sessions handed to the engine's
///   `onNewSession` for Veil's own cache (OpenSSL's internal cache is off).
/// - `clientFacing`: Veil as a TLS server towards the client, answering with minted
///   certificates; stateless session tickets with in-memory keys, so clients can resume.
public final class TLSContext: @unchecked Sendable {
    public struct UpstreamOptions: Sendable {
        public var extraTrustFile: String?
        public var verify = true
        public var minVersion: UInt16 = 0x0303
        public var groups = "X25519:P-256:P-384"
        /// Ask OpenSSL for the session secrets (key log, kTLS). Off, it formats none.
        public var captureSecrets = true
        /// A certificate and key to present when the server asks for one (the relay's clients).
        public var clientCertificate: ServerIdentity?
        public init() {}
    }

    let ctx: OpaquePointer

    /// TLS 1.3 suites, most preferred first (both legs).
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

    /// TLS 1.2 suites towards clients (minted certificates, the HTTPS listener, the relay):
    /// ECDHE with an AEAD only. OpenSSL's default list adds CBC suites (MAC-then-encrypt,
    /// LUCKY13-prone), which no client Veil serves needs. Veil's certificates are ECDSA; the
    /// RSA variants only keep the list right should an RSA one ever be used.
    static let clientFacingTLS12Suites = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        + "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
        + "ECDHE-RSA-CHACHA20-POLY1305"

    private init(_ ctx: OpaquePointer) { self.ctx = ctx }

    deinit { SSL_CTX_free(ctx) }

    /// The context for upstream connections.
    public static func upstream(_ options: UpstreamOptions) throws(OpenSSLError) -> TLSContext {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw OpenSSLError.drain("SSL_CTX_new") }
        let c = TLSContext(ctx)
        try c.common(minVersion: options.minVersion, captureSecrets: options.captureSecrets)
        guard veil_SSL_CTX_set1_groups_list(ctx, options.groups) == 1 else {
            throw OpenSSLError.drain("upstream groups '\(options.groups)'")
        }
        if options.verify {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else { throw OpenSSLError.drain("system trust store") }
            if let file = options.extraTrustFile {
                guard SSL_CTX_load_verify_locations(ctx, file, nil) == 1 else {
                    throw OpenSSLError.drain("--upstream-ca \(file)")
                }
            }
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if let identity = options.clientCertificate {
            guard SSL_CTX_use_certificate(ctx, identity.x509) == 1, SSL_CTX_use_PrivateKey(ctx, identity.privateKey) == 1 else {
                throw OpenSSLError.drain("client certificate")
            }
        }
        _ = veil_SSL_CTX_set_session_cache_mode(ctx, veil_ssl_sess_cache_client_only)
        SSL_CTX_sess_set_new_cb(ctx) { ssl, session in
            guard let ssl, let session, let engine = TLSEngine.from(ssl) else { return 0 }
            return engine.newSession(session) ? 1 : 0
        }
        return c
    }

    /// The context for the client-facing leg.
    public static func clientFacing(captureSecrets: Bool = true) throws(OpenSSLError) -> TLSContext {
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw OpenSSLError.drain("SSL_CTX_new") }
        let c = TLSContext(ctx)
        try c.common(minVersion: 0x0303, captureSecrets: captureSecrets)
        guard veil_SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") == 1 else { throw OpenSSLError.drain("groups") }
        guard SSL_CTX_set_cipher_list(ctx, TLSContext.clientFacingTLS12Suites) == 1 else {
            throw OpenSSLError.drain("TLS 1.2 cipher suites")
        }
        // Stateless tickets (keys made by OpenSSL, in memory only); no server-side session cache.
        // The session ID context ties tickets to this context (as openssl s_server does).
        _ = veil_SSL_CTX_set_session_cache_mode(ctx, 0)
        // One ticket per full handshake (OpenSSL's default is two): a client resumes one
        // connection with it and gets a new one each time. A ticket costs a session encoding
        // (four i2d, one d2i), an encryption and a key derivation: about 3% of a new
        // connection's instructions.
        SSL_CTX_set_num_tickets(ctx, 1)
        SSL_CTX_set_options(ctx, veil_ssl_server_preference_options())
        // Clients get the leaf alone (they trust Veil's CA). Without this OpenSSL would try to
        // build a chain from the context's (empty) store on every handshake.
        _ = veil_SSL_CTX_set_mode(ctx, Int(SSL_MODE_NO_AUTO_CHAIN))
        let sessionContext = Array("veil".utf8)
        SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))
        SSL_CTX_set_alpn_select_cb(ctx, { ssl, out, outLength, offered, offeredLength, _ in
            guard let ssl, let engine = TLSEngine.from(ssl), let offered else { return SSL_TLSEXT_ERR_NOACK }
            return engine.selectALPN(out: out, outLength: outLength, offered: offered, offeredLength: offeredLength)
        }, nil)
        return c
    }

    private func common(minVersion: UInt16, captureSecrets: Bool) throws(OpenSSLError) {
        SSL_CTX_set_options(ctx, veil_ssl_default_options())
        _ = veil_SSL_CTX_set_mode(ctx, veil_ssl_mode_partial_write)
        guard veil_SSL_CTX_set_min_proto_version(ctx, Int32(minVersion)) == 1 else {
            throw OpenSSLError.drain("minimum TLS version")
        }
        // TLS 1.3 suites in the order browsers offer them. OpenSSL's default puts
        // TLS_AES_256_GCM_SHA384 first, whose SHA-384 key schedule (some 40 HKDF calls per
        // handshake) costs about 0.1 ms more per connection than SHA-256's.
        guard SSL_CTX_set_ciphersuites(ctx, TLSContext.tls13Suites) == 1 else {
            throw OpenSSLError.drain("TLS 1.3 cipher suites")
        }
        guard captureSecrets else { return }
        SSL_CTX_set_keylog_callback(ctx) { ssl, line in
            guard let ssl, let line, let engine = TLSEngine.from(ssl) else { return }
            engine.keyLogged(line)
        }
    }
}
