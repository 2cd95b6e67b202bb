import VeilWire
/// How Veil reaches a target: directly, or inside a TLS tunnel through the Veil relay
/// (`--route tunnel`), so the local network sees only TLS to the relay.
public enum Route: String, Sendable, CaseIterable {
    case direct, tunnel
}
