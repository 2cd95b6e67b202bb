internal import COpenSSL

/// A leaf certificate minted by `CertificateMinter` for one host name or IP address.
///
/// Immutable; the `X509*` it owns is only read after minting (OpenSSL 3 allows that from several
/// threads: `SSL_use_certificate` takes its own reference), hence `@unchecked Sendable`.
///
/// For the handshake engine (same module): `x509` goes to `SSL_use_certificate`, the minter's
/// `leafKey.pkey` to `SSL_use_PrivateKey`, and `issuerX509` (the CA certificate, kept alive by
/// this object) to `SSL_add1_chain_cert` so that clients receive the chain.
public final class MintedCertificate: @unchecked Sendable {
    /// A private key (`EVP_PKEY*`, owned, freed in deinit). The minter has one for all leaves.
    public final class Key: @unchecked Sendable {
        /// `EVP_PKEY*`.
        let pkey: OpaquePointer

        /// Takes ownership of `pkey`.
        init(owning pkey: OpaquePointer) { self.pkey = pkey }

        deinit { EVP_PKEY_free(pkey) }

        /// The key as unencrypted PKCS#8 PEM (tests and debugging only).
        func pem() throws -> String {
            String(decoding: try X509Support.pemBytes(privateKey: pkey), as: UTF8.self)
        }
    }

    /// `X509*`: the leaf (owned, freed in deinit).
    let x509: OpaquePointer
    /// The CA that signed it (keeps `issuerX509` alive as long as this certificate).
    let authority: CertificateAuthority
    /// `X509*` of the issuing CA, for the chain.
    var issuerX509: OpaquePointer { authority.x509 }

    /// The name it was minted for, lowercased (a DNS name or an IP literal without brackets).
    public let name: String
    /// notAfter, e.g. `2026-12-23 21:30:00 UTC`.
    public let notAfter: String
    /// notAfter in seconds since the Unix epoch.
    public let notAfterSeconds: Int64

    /// Takes ownership of `x509`.
    init(owning x509: OpaquePointer, name: String, authority: CertificateAuthority) {
        self.x509 = x509
        self.name = name
        self.authority = authority
        let seconds = X509Support.epochSeconds(X509_get0_notAfter(x509)) ?? 0
        self.notAfterSeconds = seconds
        self.notAfter = X509Support.humanTime(seconds)
    }

    deinit { X509_free(x509) }

    /// The certificate as PEM text.
    public func pem() throws -> String { try X509Support.pem(x509) }
}
