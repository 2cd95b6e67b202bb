/// A parsed, validated request head: `CONNECT host:port HTTP/1.x`, the relay's `RESOLVE`, or
/// a plain-http request in absolute form (`GET http://host/path HTTP/1.1`: `path` is set).
///
/// Produced by `ConnectRequestParser`. Bytes after the head (data a client pipelined before
/// seeing the 200, such as an early TLS ClientHello, or a request body) are not part of the
/// request: `headerLength` is the offset where they start in the parsed buffer.
public struct ConnectRequest: Sendable {
    /// The request method: `CONNECT`, `RESOLVE`, or a plain-http one (`GET`, `POST`, ...).
    public let method: String
    /// Where to connect: the authority-form target, or the absolute URL's host and port.
    public let target: HostPort
    /// A plain-http request's origin-form target (`/path?query`); nil for CONNECT and RESOLVE.
    public let path: String?
    /// `HTTP/1.1` or `HTTP/1.0`, as sent by the client.
    public let httpVersion: String
    /// Header fields in order of arrival; names as sent, values with surrounding
    /// whitespace removed. Values holding bytes that are not UTF-8 are decoded with
    /// replacement characters.
    public let headers: [(name: String, value: String)]
    /// Bytes consumed: request line, header lines and the terminating empty line
    /// (`\r\n\r\n` or `\n\n`), plus any empty lines ignored before the request line.
    public let headerLength: Int

    /// Creates a request value (the parser is the usual source).
    public init(
        method: String, target: HostPort, httpVersion: String,
        headers: [(name: String, value: String)], headerLength: Int, path: String? = nil
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.httpVersion = httpVersion
        self.headers = headers
        self.headerLength = headerLength
    }

    /// A plain-http request to forward (absolute form), not a tunnel.
    public var isForward: Bool { path != nil }

    /// The value of the first header named `name` (ASCII case-insensitive), if any.
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }

    /// All values of headers named `name` (ASCII case-insensitive), in order.
    public func headers(named name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }
}
