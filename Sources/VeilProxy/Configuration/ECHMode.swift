/// Whether the upstream ClientHello uses Encrypted Client Hello (RFC 9849).
public enum ECHMode: String, Sendable, CaseIterable {
    /// ECH where a config exists (DNS HTTPS record or `--ech-config`), else the SNI policy.
    case auto
    /// Refuse targets without a config (502 with the reason).
    case require
    /// Never.
    case off
}
