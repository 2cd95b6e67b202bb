internal import COpenSSL

/// A certificate and its private key presented as a TLS server's own identity, without a CA
/// behind it: the Veil relay presents its self-signed certificate, and clients pin its SHA-256
/// fingerprint instead of verifying a chain.
public final class ServerIdentity: @unchecked Sendable {
    /// `X509*` and `EVP_PKEY*`, each holding its own reference (freed in deinit).
    let x509: OpaquePointer
    let privateKey: OpaquePointer
    /// SHA-256 of the certificate's DER encoding.
    public let fingerprint: [UInt8]

    /// The certificate and key of `authority` (a self-signed EC certificate generated on first
    /// run under its home directory).
    public init(authority: CertificateAuthority) throws(OpenSSLError) {
        guard X509_up_ref(authority.x509) == 1 else { throw OpenSSLError.drain("X509_up_ref") }
        guard EVP_PKEY_up_ref(authority.privateKey) == 1 else {
            X509_free(authority.x509)
            throw OpenSSLError.drain("EVP_PKEY_up_ref")
        }
        x509 = authority.x509
        privateKey = authority.privateKey
        guard let digest = ServerIdentity.sha256(x509) else {
            X509_free(x509)
            EVP_PKEY_free(privateKey)
            throw OpenSSLError.drain("certificate digest")
        }
        fingerprint = digest
    }

    deinit {
        X509_free(x509)
        EVP_PKEY_free(privateKey)
    }

    /// SHA-256 of `cert`'s DER encoding.
    static func sha256(_ cert: OpaquePointer) -> [UInt8]? {
        var md = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(cert, EVP_sha256(), &md, &length) == 1, length == 32 else { return nil }
        return Array(md[0..<Int(length)])
    }
}

extension TLSEngine {
    /// Server role: present `identity` (no ALPN is selected).
    public func configureServer(identity: ServerIdentity) throws(OpenSSLError) {
        guard SSL_use_cert_and_key(ssl, identity.x509, identity.privateKey, nil, 1) == 1 else {
            throw OpenSSLError.drain("use certificate and key")
        }
    }

    /// Server role: ask the client for a certificate, accepting any (it is pinned by its SHA-256
    /// afterwards, `peerCertificateSHA256`); a client without one still completes the handshake,
    /// so that it gets an answer saying why it is refused rather than an alert.
    public func requestClientCertificate() {
        SSL_set_verify(ssl, SSL_VERIFY_PEER) { _, _ in 1 }
    }

    /// Server role: select `proto` when the client offers it (ALPN); a client that does not
    /// offer it gets no ALPN answer, as before.
    public func acceptALPN(_ proto: String) {
        setALPNChoice(Array(proto.utf8))
    }

    /// SHA-256 of the DER encoding of the peer's leaf certificate, once the handshake has it.
    public var peerCertificateSHA256: [UInt8]? {
        guard let cert = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(cert) }
        return ServerIdentity.sha256(cert)
    }
}
