/// What the server's first answer to a ClientHelloOuter says (RFC 9849 section 6.1.4).
public enum ECHVerdict: Sendable, Equatable {
    /// The ServerHello confirms ECH: the server continues with the ClientHelloInner, which is
    /// what OpenSSL hashed; the handshake proceeds in OpenSSL unchanged.
    case accepted
    /// A HelloRetryRequest that confirms ECH: wrap the second ClientHelloInner OpenSSL writes.
    case helloRetryAccepted
    /// The server did not use the ClientHelloInner (says what it did): it continues with the
    /// outer hello, so the connection must end (`close=ech-rejected`), never falling back.
    case rejected(String)
}
