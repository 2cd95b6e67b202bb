/// A problem with the CA files under `$VEIL_HOME`: what is wrong, which path, and what to do.
/// Veil never replaces or overwrites an existing CA file; every problem is reported instead.
public struct CertificateAuthorityError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Kind: Sendable, Equatable {
        /// `$VEIL_HOME` cannot be created or is not a directory.
        case directory
        /// A file exists but cannot be read (permissions, I/O error, too large).
        case unreadable
        /// A file does not hold a usable PEM certificate / private key.
        case corrupt
        /// `ca-key.pem` has group or other permission bits.
        case insecureKeyPermissions
        /// The private key does not belong to the certificate.
        case keyMismatch
        /// One of the two files is missing.
        case incompletePair
        /// The certificate is not a CA certificate (basicConstraints CA:TRUE, keyCertSign).
        case notCA
        /// The certificate's notAfter is in the past.
        case expired
        /// Generating or writing a new CA failed.
        case creation
    }

    public let kind: Kind
    /// The file (or directory) concerned.
    public let path: String
    /// The whole explanation, including what to do about it.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { message }
}
