import VeilWire
/// What the server_name extension of Veil's upstream ClientHello carries. Certificate
/// verification always uses the real target name, whatever is sent.
public enum SNIPolicy: Sendable, Equatable, CustomStringConvertible {
    /// The real target name (omitted for IP targets, as TLS requires).
    case real
    /// No server_name extension.
    case omit
    /// A cover name instead of the real one.
    case cover(String)

    /// Parses `real`, `omit` or `cover:NAME`.
    public init?(parsing text: String) {
        switch text {
        case "real": self = .real
        case "omit": self = .omit
        default:
            guard text.hasPrefix("cover:") else { return nil }
            let name = String(text.dropFirst(6))
            guard (try? HostPort(host: name, port: 443))?.kind == .name else { return nil }
            self = .cover(name.lowercased())
        }
    }

    public var description: String {
        switch self {
        case .real: return "real"
        case .omit: return "omit"
        case .cover(let n): return "cover:\(n)"
        }
    }

    /// The server name to send for `target` (nil: none).
    public func serverName(for target: HostPort) -> String? {
        switch self {
        case .real: return target.kind == .name ? target.host : nil
        case .omit: return nil
        case .cover(let n): return n
        }
    }
}
