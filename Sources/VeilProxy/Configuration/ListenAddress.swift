import VeilResolver
import VeilWire
import VeilRuntime

/// The address a listener binds (`listen`, `listen-tls`, `veil relay --listen`): `IP:PORT`,
/// `[IPv6]:PORT`, or `localhost:PORT`, which is 127.0.0.1 (the default listener's address;
/// `[::1]:PORT` for IPv6 loopback). No other name is accepted: looking one up would be plain
/// DNS at start-up, and what a name points to can change what Veil exposes. The error says so
/// and what to write instead.
public enum ListenAddress {
    public struct Parsed: Sendable, Equatable {
        public let address: SocketAddress
        /// Given as `localhost:PORT`: the HTTPS listener's certificate then names `localhost`.
        public let byName: Bool
    }

    /// The address, or why `text` is not one (`what` names the setting in the message).
    public static func parse(_ text: String, what: String) -> Result<Parsed, ParseError> {
        if let a = SocketAddress(parsing: text) { return .success(Parsed(address: a, byName: false)) }
        let forms = "IP:PORT, [IPv6]:PORT or localhost:PORT"
        guard let colon = text.lastIndex(of: ":"), !text.hasPrefix("[") else {
            return .failure(ParseError("\(what) '\(text)' is not \(forms)"))
        }
        let host = text[..<colon]
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else {
            return .failure(ParseError("\(what) '\(text)': '\(portText)' is not a port (0-65535); \(what) takes \(forms)"))
        }
        let name = host.hasSuffix(".") ? host.dropLast().lowercased() : host.lowercased()
        if name == "localhost" {
            return .success(Parsed(address: .loopback(port: port), byName: true))
        }
        if host.isEmpty || host.contains(":") {
            return .failure(ParseError("\(what) '\(text)' is not \(forms)"))
        }
        return .failure(ParseError(
            "\(what) '\(text)': '\(host)' is not an IP address; \(what) takes \(forms). Names other than localhost are not looked up (that would be plain DNS, and a name can change what Veil exposes): give the address, e.g. 127.0.0.1:\(port), 0.0.0.0:\(port) for every interface, or the interface's IP"))
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
        init(_ d: String) { description = d }
    }
}
