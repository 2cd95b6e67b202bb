import VeilWire
/// How Veil reaches a target: directly, or inside a TLS tunnel through the Veil relay
/// (`--route tunnel`), so the local network sees only TLS to the relay.
public enum Route: String, Sendable, CaseIterable {
    case direct, tunnel
}

/// `relay-mux`: tunnels as HTTP/2 streams over one relay connection per worker, or one
/// connection per tunnel.
public enum RelayMuxMode: String, Sendable, CaseIterable {
    case off, on
}
