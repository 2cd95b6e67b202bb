/// What Veil does with a tunnel once CONNECT succeeded.
public enum ProxyMode: String, Sendable, CaseIterable {
    /// Terminate TLS on both legs with Veil's CA; Veil writes the upstream ClientHello.
    case intercept
    /// Relay the client's TLS untouched (records logged during the handshake, then spliced).
    case passthrough
}
