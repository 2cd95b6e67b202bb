import VeilResolver
import VeilTLS

/// The certificate `veil run` presents to a relay that asks for one (`veil relay
/// --client-fingerprint`): self-signed, EC P-256, generated on first use in `HOME/relay-client/`
/// (key 0600) and kept; the relay pins its SHA-256. TLS 1.3 encrypts it on the wire.
public enum RelayClientIdentity {
    /// Gives `config.relay` its client certificate (made on first use). Nothing without a relay.
    public static func attach(to config: inout ProxyConfiguration) throws(StartError) {
        guard !config.relays.isEmpty else { return }
        let directory = config.home + "/relay-client"
        let identity: ServerIdentity
        do {
            identity = try ServerIdentity(authority: CertificateAuthority.loadOrCreate(home: directory))
        } catch {
            throw StartError("relay client certificate in \(directory): \(error)")
        }
        for i in config.relays.indices { config.relays[i].clientCertificate = identity }
    }
}
