/// The only HTTP responses a CONNECT proxy writes: `200 Connection established` before the
/// tunnel starts, or a short plain-text error followed by closing the connection.
///
///     HTTPStatusResponse.bytes(status: .ok)
///     // "HTTP/1.1 200 Connection established\r\n\r\n"
///     HTTPStatusResponse.bytes(status: .forbidden, reason: "target x:22 denied by rule 'deny *:22'")
///     // "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 39\r\n"
///     // "Connection: close\r\nProxy-Agent: veil\r\n\r\ntarget x:22 denied by rule 'deny *:22'\n"
public struct HTTPStatusResponse: Sendable, Equatable {
    /// Status codes Veil sends.
    public enum Status: Int, Sendable, CaseIterable {
        case ok = 200
        case badRequest = 400
        case forbidden = 403
        case methodNotAllowed = 405
        case proxyAuthenticationRequired = 407
        case requestTimeout = 408
        case tooManyRequests = 429
        case requestHeaderFieldsTooLarge = 431
        case badGateway = 502
        case serviceUnavailable = 503
        case gatewayTimeout = 504

        /// The reason phrase on the status line (`Connection established` for 200).
        public var reasonPhrase: String {
            switch self {
            case .ok: return "Connection established"
            case .badRequest: return "Bad Request"
            case .forbidden: return "Forbidden"
            case .methodNotAllowed: return "Method Not Allowed"
            case .proxyAuthenticationRequired: return "Proxy Authentication Required"
            case .tooManyRequests: return "Too Many Requests"
            case .requestTimeout: return "Request Timeout"
            case .requestHeaderFieldsTooLarge: return "Request Header Fields Too Large"
            case .badGateway: return "Bad Gateway"
            case .serviceUnavailable: return "Service Unavailable"
            case .gatewayTimeout: return "Gateway Timeout"
            }
        }
    }

    /// Longest body line kept, in Unicode scalars; longer reasons are cut and end in `...`.
    /// Room for a resolve failure's reasons and its advice (`ResolveAdvice`).
    public static let maxReasonLength = 1024

    /// The status to send.
    public let status: Status
    /// One-line explanation for the body of error responses (sanitised when serialised).
    public let reason: String?
    /// `HTTP/1.1` or `HTTP/1.0`; anything else is written as `HTTP/1.1`.
    public let httpVersion: String
    /// The `Proxy-Authenticate` challenge of a 407 (RFC 9110 requires one).
    public let challenge: String?

    /// A response value; `bytes` serialises it.
    public init(status: Status, reason: String? = nil, httpVersion: String = "HTTP/1.1", challenge: String? = nil) {
        self.status = status
        self.reason = reason
        self.httpVersion = httpVersion
        self.challenge = challenge
    }

    /// The wire bytes of this response.
    public var bytes: [UInt8] {
        HTTPStatusResponse.bytes(status: status, reason: reason, httpVersion: httpVersion, challenge: challenge)
    }

    /// Wire bytes of a response.
    ///
    /// - 200: `HTTP/1.1 200 Connection established\r\n\r\n`, no headers and no body (`reason`
    ///   is ignored).
    /// - Errors: status line, `Content-Type: text/plain`, `Content-Length`, `Connection: close`,
    ///   `Proxy-Agent: veil` (plus `Allow: CONNECT` for 405, as RFC 9110 requires), a blank
    ///   line, and the body: the sanitised reason (default: the reason phrase) and `\n`.
    public static func bytes(
        status: Status, reason: String? = nil, httpVersion: String = "HTTP/1.1", challenge: String? = nil
    ) -> [UInt8] {
        let version = (httpVersion == "HTTP/1.0" || httpVersion == "HTTP/1.1") ? httpVersion : "HTTP/1.1"
        var head = "\(version) \(status.rawValue) \(status.reasonPhrase)\r\n"
        if status == .ok {
            head += "\r\n"
            return Array(head.utf8)
        }
        let body = sanitise(reason ?? status.reasonPhrase) + "\n"
        head += "Content-Type: text/plain\r\n"
        head += "Content-Length: \(body.utf8.count)\r\n"
        head += "Connection: close\r\n"
        if status == .methodNotAllowed { head += "Allow: CONNECT\r\n" }
        if status == .proxyAuthenticationRequired, let challenge { head += "Proxy-Authenticate: \(sanitise(challenge))\r\n" }
        head += "Proxy-Agent: veil\r\n"
        head += "\r\n"
        return Array(head.utf8) + Array(body.utf8)
    }

    /// One line of text: control characters (C0, DEL, C1, U+2028/2029) become spaces, leading
    /// and trailing spaces are trimmed, the length is capped at `maxReasonLength` scalars.
    /// An empty result becomes `-` so the body is never just a newline.
    public static func sanitise(_ reason: String) -> String {
        var out = String.UnicodeScalarView()
        var count = 0
        var truncated = false
        for scalar in reason.unicodeScalars {
            if count == maxReasonLength {
                truncated = true
                break
            }
            let v = scalar.value
            if v < 0x20 || (v >= 0x7f && v < 0xa0) || v == 0x2028 || v == 0x2029 {
                out.append(" ")
            } else {
                out.append(scalar)
            }
            count += 1
        }
        var text = String(out)
        while text.hasPrefix(" ") { text.removeFirst() }
        while text.hasSuffix(" ") { text.removeLast() }
        if truncated { text += "..." }
        return text.isEmpty ? "-" : text
    }
}
