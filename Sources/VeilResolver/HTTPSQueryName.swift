/// The name an HTTPS record (RFC 9460) is asked for: the host itself for port 443, else the
/// port-prefixed `_PORT._https.HOST` (sections 2.3 and 9.1, "Port Prefix Naming"). It is also
/// the cache key, so that one host's answers for different ports never mix. A ServiceMode
/// record whose TargetName is "." found at a port-prefixed name stands for the origin's host
/// (the owner name less the prefix), as browsers read it; Veil connects to the target's own
/// addresses either way.
public enum HTTPSQueryName {
    public static func of(host: String, port: UInt16) -> String {
        port == 443 ? host : "_\(port)._https.\(host)"
    }
}
