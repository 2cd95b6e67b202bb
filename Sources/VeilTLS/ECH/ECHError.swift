/// Why Veil cannot offer ECH on a connection, or what the server's answer means. Never a trap:
/// a ClientHello Veil cannot wrap, a server answer that does not parse or a failing libcrypto
/// call is one of these, with a reason fit for a close line.
public enum ECHError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The ClientHelloInner OpenSSL wrote cannot be wrapped (says why).
    case badInner(String)
    /// The server's ServerHello or HelloRetryRequest does not parse, or breaks RFC 9849 (says how).
    case badServerHello(String)
    /// A second ClientHello came when none was expected, or a ServerHello before the first.
    case unexpected(String)
    /// HPKE or a digest failed.
    case crypto(String)

    public var description: String {
        switch self {
        case .badInner(let why): "ECH: cannot wrap the ClientHello: " + why
        case .badServerHello(let why): "ECH: bad server answer: " + why
        case .unexpected(let why): "ECH: " + why
        case .crypto(let why): "ECH: " + why
        }
    }
}
