import VeilResolver
import VeilRuntime
import VeilWire

/// The relay's connection string: its address, pinned certificate fingerprint and shared secret
/// in one value, in the spirit of K3s's `K10<CA hash>::<user>:<password>` join token:
///
///     VR1<64 hex digits of the certificate's SHA-256>::<secret>@<IP:PORT>
///
/// `veil relay` writes it to `HOME/relay-token` (0600) at every start and shows it once on its
/// terminal (never in the log: it holds the secret); `veil run --relay-token TOKEN|@FILE` (also
/// `VEIL_RELAY_TOKEN`) stands for `relay`, `relay-fingerprint` and the secret. The secret is
/// everything between `::` and the last `@` (a secret may hold `@` and `:`, an address never
/// holds `@`).
public struct RelayToken: Sendable, Equatable {
    public static let prefix = "VR1"

    public let address: SocketAddress
    public let fingerprint: RelayFingerprint
    public let secret: String

    public init(address: SocketAddress, fingerprint: RelayFingerprint, secret: String) {
        self.address = address
        self.fingerprint = fingerprint
        self.secret = secret
    }

    /// Why `text` is not a token, or the token. The reason never quotes the text (it may hold a
    /// secret).
    public static func parse(_ text: String) -> Result<RelayToken, ConfigurationBuilder.Error> {
        func bad(_ why: String) -> Result<RelayToken, ConfigurationBuilder.Error> {
            .failure(ConfigurationBuilder.Error("relay token: \(why) (expected \(prefix)<64 hex>::<secret>@IP:PORT, as veil relay writes it to HOME/relay-token)"))
        }
        let t = text.trimmingWhitespace()
        guard t.hasPrefix(prefix) else { return bad("does not start with \(prefix)") }
        let body = t.dropFirst(prefix.count)
        // 64 hex digits, then `::`.
        let hex = body.prefix(64)
        guard hex.count == 64, let fingerprint = RelayFingerprint(parsing: String(hex)) else {
            return bad("the fingerprint is not 64 hex digits")
        }
        let after = body.dropFirst(64)
        guard after.hasPrefix("::") else { return bad("no '::' after the fingerprint") }
        let rest = after.dropFirst(2)
        guard let at = rest.lastIndex(of: "@") else { return bad("no '@' before the relay's address") }
        let secret = String(rest[..<at])
        if let problem = SecretFile.problem(with: secret) { return bad("its secret: \(problem)") }
        guard let address = SocketAddress(parsing: String(rest[rest.index(after: at)...])) else {
            return bad("the relay's address is not IP:PORT or [IPv6]:PORT")
        }
        return .success(RelayToken(address: address, fingerprint: fingerprint, secret: secret))
    }

    /// The token as text (holds the secret: never log it).
    public var text: String {
        let hex = fingerprint.description.filter { $0 != ":" }
        return "\(Self.prefix)\(hex)::\(secret)@\(address)"
    }
}
