/// A plain-http request (absolute form) as Veil forwards it to the origin: origin-form request
/// line, the client's header fields minus the hop-by-hop ones (RFC 9110 7.6.1: Connection and
/// the fields it names, Proxy-Connection, Keep-Alive, Proxy-Authorization, Proxy-Authenticate,
/// TE, Trailer, Upgrade), `Host` replaced by the URL's authority (RFC 9112 3.2.2), and
/// `Connection: close`: one request per connection, the origin closes after its response.
/// Nothing is added that names the client or Veil (no Via, no X-Forwarded-For).
public struct ForwardRequest: Sendable {
    /// How the request body is delimited (RFC 9112 6).
    public enum Body: Sendable, Equatable {
        case none
        case length(Int)
        case chunked
    }

    public let head: [UInt8]
    public let body: Body

    /// Why a request cannot be forwarded (400), or nil.
    public struct Refusal: Error, Sendable {
        public let reason: String
    }

    public init(_ request: ConnectRequest) throws(Refusal) {
        guard let path = request.path else { throw Refusal(reason: "not a plain-http request") }
        // Framing first: ambiguity here is how requests are smuggled.
        let lengths = request.headers(named: "Content-Length")
        let encodings = request.headers(named: "Transfer-Encoding")
        if !encodings.isEmpty {
            guard lengths.isEmpty else { throw Refusal(reason: "both Content-Length and Transfer-Encoding in the request") }
            let codings = encodings.joined(separator: ",").split(separator: ",").map { String($0).trimmingWhitespace().lowercased() }
            guard codings == ["chunked"] else { throw Refusal(reason: "request Transfer-Encoding must be chunked alone, not '\(encodings.joined(separator: ", "))'") }
            body = .chunked
        } else if !lengths.isEmpty {
            let values = Set(lengths.joined(separator: ",").split(separator: ",").map { String($0).trimmingWhitespace() })
            guard values.count == 1, let v = values.first, !v.isEmpty, v.utf8.count <= 15,
                  v.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let n = Int(v) else {
                throw Refusal(reason: "invalid Content-Length '\(lengths.joined(separator: ", "))'")
            }
            body = n > 0 ? .length(n) : .none
        } else {
            body = .none
        }
        var hopByHop: Set<String> = ["connection", "proxy-connection", "keep-alive", "proxy-authorization",
                                     "proxy-authenticate", "te", "trailer", "upgrade", "host"]
        for value in request.headers(named: "Connection") {
            for token in value.split(separator: ",") {
                let t = String(token).trimmingWhitespace().lowercased()
                if t != "content-length" && t != "transfer-encoding" { hopByHop.insert(t) }
            }
        }
        let target = request.target
        let hostValue = target.port == 80 ? target.hostForDisplay : "\(target.hostForDisplay):\(target.port)"
        var text = "\(request.method) \(path) HTTP/1.1\r\nHost: \(hostValue)\r\n"
        for (name, value) in request.headers where !hopByHop.contains(name.lowercased()) {
            text += "\(name): \(value)\r\n"
        }
        text += "Connection: close\r\n\r\n"
        head = Array(text.utf8)
    }
}
