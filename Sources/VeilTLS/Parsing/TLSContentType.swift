/// The content type byte that starts every TLS record (RFC 8446 §5.1, RFC 6520).
public enum TLSContentType: UInt8, Sendable, Hashable, CaseIterable {
    case changeCipherSpec = 20
    case alert = 21
    case handshake = 22
    case applicationData = 23
    case heartbeat = 24

    /// The IANA / RFC name, e.g. `application_data`, used in log lines.
    public var name: String {
        switch self {
        case .changeCipherSpec: "change_cipher_spec"
        case .alert: "alert"
        case .handshake: "handshake"
        case .applicationData: "application_data"
        case .heartbeat: "heartbeat"
        }
    }
}
