/// What Veil does with a tunnel once CONNECT succeeded.
public enum ProxyMode: String, Sendable, CaseIterable {
    /// Relay the client's TLS untouched (records logged during the handshake, then spliced).
    case passthrough
}
