internal import COpenSSL
import Dispatch
import Synchronization

/// A leaf certificate minted by `CertificateMinter` for one host name or IP address.
///
/// Immutable; the `X509*` it owns is only read after minting (OpenSSL 3 allows that from several
/// threads: `SSL_use_certificate` takes its own reference), hence `@unchecked Sendable`.
///
/// For the handshake engine (same module): `x509ForHandshake` and the minter's `leafKey.pkey` go
/// to `SSL_use_cert_and_key`; `issuerX509` is the CA certificate, kept alive by this object.
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

    /// `X509*`: the leaf as minted (owned, freed in deinit).
    let x509: OpaquePointer

    /// A certificate built with `X509_new` keeps no encoding of itself: OpenSSL 3.0 encodes it
    /// anew (twice) for every handshake's Certificate message, about 1.4% of a new connection's
    /// instructions. A decoded copy carries its DER, but decoding costs about 0.4 ms (OpenSSL
    /// 3.0 decodes the public key through its provider decoder). So a certificate that keeps
    /// being used gets a decoded copy, made off the ring after `decodeAfterUses` handshakes.
    static let decodeAfterUses = 16
    private let uses = Atomic<Int>(0)
    /// The decoded copy's `X509*` as an integer (0 until made; owned, freed in deinit).
    private let decodedBits = Atomic<Int>(0)

    /// The `X509*` to present in a handshake: the decoded copy once there is one. Counts uses.
    var x509ForHandshake: OpaquePointer {
        let bits = decodedBits.load(ordering: .acquiring)
        if bits != 0, let decoded = OpaquePointer(bitPattern: bits) { return decoded }
        if uses.wrappingAdd(1, ordering: .relaxed).newValue == Self.decodeAfterUses {
            DispatchQueue.global(qos: .utility).async { self.makeDecodedCopy() }
        }
        return x509
    }

    /// Encodes and decodes the leaf, then publishes the copy (the leaf itself stays: handshakes
    /// under way hold their own references anyway).
    func makeDecodedCopy() {
        let length = i2d_X509(x509, nil)
        guard length > 0 else { OpenSSLError.drainQueue(); return }
        var der = [UInt8](repeating: 0, count: Int(length))
        let copy: OpaquePointer? = der.withUnsafeMutableBufferPointer { buffer in
            var out: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            guard i2d_X509(x509, &out) == length else { return nil }
            var input: UnsafePointer<UInt8>? = UnsafePointer(buffer.baseAddress)
            return d2i_X509(nil, &input, Int(length))
        }
        guard let copy else { OpenSSLError.drainQueue(); return }
        // Fill OpenSSL's per-certificate extension cache before other threads can see it.
        _ = X509_check_purpose(copy, -1, 0)
        let (exchanged, _) = decodedBits.compareExchange(expected: 0, desired: Int(bitPattern: copy),
                                                         ordering: .releasing)
        if !exchanged { X509_free(copy) }
    }
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

    deinit {
        X509_free(x509)
        if let decoded = OpaquePointer(bitPattern: decodedBits.load(ordering: .acquiring)) { X509_free(decoded) }
    }

    /// The certificate as PEM text.
    public func pem() throws -> String { try X509Support.pem(x509) }
}
