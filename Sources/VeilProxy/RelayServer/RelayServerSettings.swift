import VeilRuntime
import VeilWire
/// What `veil relay` enforces on the CONNECT requests it receives (see `RelayGate`).
public struct RelayServerSettings: Sendable {
    /// How clients prove who they are: the shared secret, a certificate pinned by
    /// `client-fingerprint`, or both.
    public enum ClientAuth: String, Sendable, CaseIterable { case secret, certificate, both }

    /// The shared secret clients send as `Proxy-Authorization: Bearer <secret>`.
    public var secret: String
    /// Target ports a client may ask for (default 443 only).
    public var allowedPorts: [ClosedRange<UInt16>] = [443...443]
    /// Whether targets in loopback, private and link-local ranges may be reached.
    public var allowPrivate = false
    /// Connections open at once per client address.
    public var maxPerClient = 64
    /// Wrong secrets from one address within `authWindow` seconds before it is refused (429)
    /// for `authBlock` seconds.
    public var authFailureLimit = 5
    public var authWindow: Double = 60
    public var authBlock: Double = 60
    /// The address clients reach the relay at, put in the connection token (`token-address`);
    /// nil: the listening address, unless that is 0.0.0.0 or [::] (then no token).
    public var tokenAddress: SocketAddress?
    /// SHA-256 fingerprints of the client certificates accepted (`client-fingerprint`); the
    /// relay asks clients for a certificate only when there are some.
    public var clientFingerprints: [RelayFingerprint] = []
    /// By default `both` when fingerprints are given, else `secret` (`ConfigurationBuilder.build`).
    public var clientAuth: ClientAuth = .secret

    /// Deny rules that keep the relay away from the machine's own and its network's addresses
    /// (applied to literal targets and to every address a name resolves to).
    public static let privateRanges = [
        "0.0.0.0/8", "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
        "100.64.0.0/10", "[::]", "[::1]", "[fc00::/7]", "[fe80::/10]",
    ]

    public init(secret: String) { self.secret = secret }

    public func allows(port: UInt16) -> Bool { allowedPorts.contains { $0.contains(port) } }

    /// `443`, `443,8443`, `8000-9000`, joined with commas.
    public static func parsePorts(_ text: String) -> [ClosedRange<UInt16>]? {
        var out: [ClosedRange<UInt16>] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let p = String(part).trimmingWhitespace()
            if let dash = p.firstIndex(of: "-") {
                guard let lo = UInt16(p[..<dash]), let hi = UInt16(p[p.index(after: dash)...]), lo >= 1, lo <= hi else { return nil }
                out.append(lo...hi)
            } else {
                guard let v = UInt16(p), v >= 1 else { return nil }
                out.append(v...v)
            }
        }
        return out.isEmpty ? nil : out
    }
}
