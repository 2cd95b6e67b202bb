/// Incremental parser for the request head a client sends to an HTTP CONNECT proxy.
///
/// Call `parse` with everything received so far (from the start of the connection). It
/// answers `.needMore` until the head is complete, then `.request` with `headerLength` set to
/// the offset just past the empty line, or `.reject` with the status to send and a one-line
/// reason. Bytes after the head are never looked at. Problems visible in a partial head
/// (control characters, a TLS ClientHello, a malformed request line) are rejected at once
/// instead of waiting for more data. A first byte of 0x16 (TLS) or 0x04 / 0x05 (SOCKS) gets a
/// 400 whose reason tells the user how to configure the client.
///
/// Rules (RFC 9110 / 9112, strict where leniency would only help attackers):
/// - lines end in CRLF or a bare LF; a CR anywhere else is an error; empty lines before
///   the request line are ignored;
/// - request line is exactly `METHOD SP target SP HTTP/1.1` (or `HTTP/1.0`), single spaces;
/// - the method is case-sensitive; anything but `CONNECT` is answered 405 (`RESOLVE` is
///   accepted too when `allowsResolve` is set: the Veil relay's name resolution; with
///   `allowsForward`, any method with an absolute `http://` URL is a plain-http request);
/// - the target is authority-form `host:port` (see `HostPort`), or for a plain-http request
///   `http://host[:port][/path][?query]` (no user info, no fragment; port 80 by default);
/// - header lines are `name: value` with a token name directly followed by `:`; line folding
///   and control characters other than tab in values are rejected;
/// - the whole head, including the final empty line, must fit in `maxHeaderBytes`.
public struct ConnectRequestParser: Sendable {
    /// Outcome of one `parse` call.
    public enum ParseResult: Sendable {
        /// The head is incomplete and nothing seen so far is invalid.
        case needMore
        /// A complete, valid CONNECT request.
        case request(ConnectRequest)
        /// The request is invalid: send this status with `reason`, then close.
        case reject(HTTPStatusResponse.Status, reason: String)
    }

    /// The reason given when the first byte is 0x16 (a TLS handshake record).
    public static let tlsHandshakeReason =
        "TLS handshake received; configure the client to use this as an HTTP proxy (CONNECT)"

    /// The reason given when the first byte is 0x04 or 0x05 (a SOCKS4 / SOCKS5 greeting).
    public static let socksReason =
        "SOCKS handshake received; configure the client to use this as an HTTP proxy (CONNECT), not SOCKS"

    /// Largest accepted request head in bytes, final empty line included.
    public let maxHeaderBytes: Int

    /// Whether `RESOLVE host:port` is accepted besides CONNECT (`veil relay` only).
    public let allowsResolve: Bool
    /// Whether plain-http requests in absolute form are accepted (`veil run`).
    public let allowsForward: Bool

    /// A parser accepting request heads of at most `maxHeaderBytes` bytes (at least 1).
    public init(maxHeaderBytes: Int = 8192, allowsResolve: Bool = false, allowsForward: Bool = false) {
        self.maxHeaderBytes = max(1, maxHeaderBytes)
        self.allowsResolve = allowsResolve
        self.allowsForward = allowsForward
    }

    /// Parses the bytes received so far.
    public func parse(_ bytes: [UInt8]) -> ParseResult {
        bytes.withUnsafeBytes { parse($0) }
    }

    /// Parses the bytes received so far.
    public func parse(_ buffer: UnsafeRawBufferPointer) -> ParseResult {
        let n = buffer.count
        if n == 0 { return .needMore }
        if buffer[0] == 0x16 { return .reject(.badRequest, reason: Self.tlsHandshakeReason) }
        if buffer[0] == 0x04 || buffer[0] == 0x05 { return .reject(.badRequest, reason: Self.socksReason) }
        let limit = Swift.min(n, maxHeaderBytes)
        var lineStart = 0
        var requestLine: RequestLine?
        var headers: [(name: String, value: String)] = []
        while true {
            var lf = lineStart
            while lf < limit, buffer[lf] != Self.lf { lf += 1 }
            if lf == limit {
                // Incomplete line: reject early if what is there is already bad.
                var end = limit
                if end > lineStart, buffer[end - 1] == Self.cr { end -= 1 }
                let partial = Array(buffer[lineStart..<end])
                if let problem = Self.checkBytes(partial, requestLine: requestLine == nil) {
                    return .reject(.badRequest, reason: problem)
                }
                if requestLine == nil, let problem = Self.checkMethodPrefix(partial) {
                    return .reject(.badRequest, reason: problem)
                }
                if n >= maxHeaderBytes {
                    return .reject(
                        .requestHeaderFieldsTooLarge,
                        reason: "request header exceeds \(maxHeaderBytes) bytes")
                }
                return .needMore
            }
            var end = lf
            if end > lineStart, buffer[end - 1] == Self.cr { end -= 1 }
            let line = Array(buffer[lineStart..<end])
            let next = lf + 1
            if let problem = Self.checkBytes(line, requestLine: requestLine == nil) {
                return .reject(.badRequest, reason: problem)
            }
            if line.isEmpty {
                if let r = requestLine {
                    return .request(
                        ConnectRequest(
                            method: r.method, target: r.target, httpVersion: r.version,
                            headers: headers, headerLength: next, path: r.path))
                }
                lineStart = next  // empty lines before the request line are ignored
                continue
            }
            if requestLine == nil {
                switch Self.parseRequestLine(line, allowsResolve: allowsResolve, allowsForward: allowsForward) {
                case .success(let parsed): requestLine = parsed
                case .failure(let rejection): return .reject(rejection.status, reason: rejection.reason)
                }
            } else {
                switch Self.parseHeaderLine(line) {
                case .success(let header): headers.append(header)
                case .failure(let rejection): return .reject(rejection.status, reason: rejection.reason)
                }
            }
            lineStart = next
        }
    }

    // MARK: - Pieces

    private struct Rejection: Error {
        let status: HTTPStatusResponse.Status
        let reason: String
        init(_ status: HTTPStatusResponse.Status, _ reason: String) {
            self.status = status
            self.reason = reason
        }
        init(_ reason: String) {
            self.init(.badRequest, reason)
        }
    }

    private static let cr: UInt8 = 0x0D
    private static let lf: UInt8 = 0x0A
    private static let sp: UInt8 = 0x20
    private static let htab: UInt8 = 0x09
    private static let usage = "expected 'CONNECT host:port HTTP/1.1'"

    /// Byte-level checks for one line (without its line ending), complete or partial.
    private static func checkBytes(_ line: [UInt8], requestLine: Bool) -> String? {
        for b in line {
            if b == cr {
                return "bare CR in request header; lines must end in CRLF or LF"
            }
            if b == htab {
                if requestLine {
                    return "tab in request line; separate method, target and version with single spaces"
                }
                continue
            }
            if b < 0x20 || b == 0x7F {
                let place = requestLine ? "request line" : "request header field"
                return "control character \(HostPort.describe(byte: b)) in \(place)"
            }
            if requestLine, b >= 0x80 {
                return "non-ASCII byte \(HostPort.describe(byte: b)) in request line"
            }
        }
        return nil
    }

    /// Rejects a partial request line whose method already contains a non-token byte.
    private static func checkMethodPrefix(_ line: [UInt8]) -> String? {
        for b in line {
            if b == sp { return nil }
            if !isTokenByte(b) {
                return "malformed request line: method contains \(HostPort.describe(byte: b)); \(usage)"
            }
        }
        return nil
    }

    private struct RequestLine {
        let method: String
        let target: HostPort
        let version: String
        var path: String? = nil
    }

    private static func parseRequestLine(
        _ line: [UInt8], allowsResolve: Bool, allowsForward: Bool
    ) -> Result<RequestLine, Rejection> {
        let text = String(decoding: line, as: UTF8.self)
        let parts = line.split(separator: sp, omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            return .failure(Rejection("malformed request line '\(HostPort.clip(text))'; \(usage)"))
        }
        let methodBytes = parts[0]
        guard methodBytes.allSatisfy(isTokenByte) else {
            return .failure(Rejection("malformed request line '\(HostPort.clip(text))'; \(usage)"))
        }
        let method = String(decoding: methodBytes, as: UTF8.self)
        let target = String(decoding: parts[1], as: UTF8.self)
        let version = String(decoding: parts[2], as: UTF8.self)

        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            let v = Array(version.utf8)
            let isDigit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
            if v.count == 8, version.hasPrefix("HTTP/"), isDigit(v[5]), v[6] == UInt8(ascii: "."),
                isDigit(v[7])
            {
                return .failure(
                    Rejection("unsupported HTTP version \(version); expected HTTP/1.1 or HTTP/1.0"))
            }
            return .failure(
                Rejection(
                    "malformed HTTP version '\(HostPort.clip(version, limit: 32))' in request line; \(usage)"))
        }

        if allowsForward, method.uppercased() != "CONNECT", method != "RESOLVE" {
            return parseAbsoluteURL(target, method: method, version: version)
        }
        guard method == "CONNECT" || (allowsResolve && method == "RESOLVE") else {
            var reason = "method \(HostPort.clip(method, limit: 32)) not supported; this is a CONNECT proxy"
            if method.uppercased() == "CONNECT" { reason += " (methods are case-sensitive)" }
            return .failure(Rejection(.methodNotAllowed, reason))
        }

        if target.contains("://") || target.contains("/") || target.contains("?")
            || target.contains("#")
        {
            return .failure(
                Rejection(
                    "\(method) target must be host:port (authority-form), found '\(HostPort.clip(target))'"))
        }
        do {
            let hostPort = try HostPort(parsing: target)
            return .success(RequestLine(method: method, target: hostPort, version: version))
        } catch {
            return .failure(
                Rejection("invalid \(method) target '\(HostPort.clip(target))': \(error.message)"))
        }
    }

    /// `http://host[:port][/path][?query]` of a plain-http request.
    private static func parseAbsoluteURL(_ url: String, method: String, version: String) -> Result<RequestLine, Rejection> {
        let lower = url.lowercased()
        if lower.hasPrefix("https://") {
            return .failure(Rejection("\(method) \(HostPort.clip(url)): https URLs go through CONNECT (configure the client to use this proxy for https too)"))
        }
        guard lower.hasPrefix("http://") else {
            return .failure(Rejection("\(method) \(HostPort.clip(url)) is a request for this proxy itself; send absolute URLs (\(method) http://host/path) or CONNECT host:port"))
        }
        let rest = url.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.contains("#") { return .failure(Rejection("fragment (#...) in \(method) URL '\(HostPort.clip(url))'")) }
        if authority.contains("@") { return .failure(Rejection("user info in \(method) URL '\(HostPort.clip(url))' is not forwarded; remove it")) }
        if authority.isEmpty { return .failure(Rejection("no host in \(method) URL '\(HostPort.clip(url))'")) }
        if path.isEmpty || path.hasPrefix("?") { path = "/" + path }
        // host[:port]: a port after the last ':' outside brackets, else 80.
        let hasPort: Bool
        if authority.hasPrefix("[") {
            hasPort = authority.firstIndex(of: "]").map { authority[authority.index(after: $0)...].hasPrefix(":") } ?? false
        } else {
            hasPort = authority.contains(":")
        }
        do {
            let target = try HostPort(parsing: hasPort ? String(authority) : String(authority) + ":80")
            return .success(RequestLine(method: method, target: target, version: version, path: path))
        } catch {
            return .failure(Rejection("invalid host in \(method) URL '\(HostPort.clip(url))': \(error.message)"))
        }
    }

    private static func parseHeaderLine(_ line: [UInt8]) -> Result<(name: String, value: String), Rejection> {
        if line[0] == sp || line[0] == htab {
            return .failure(
                Rejection("obsolete line folding (header line starting with whitespace) is not supported"))
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
            let text = String(decoding: line, as: UTF8.self)
            return .failure(Rejection("header line without ':' ('\(HostPort.clip(text, limit: 40))')"))
        }
        let nameBytes = line[..<colon]
        if nameBytes.isEmpty {
            return .failure(Rejection("empty header field name"))
        }
        let name = String(decoding: nameBytes, as: UTF8.self)
        if let last = nameBytes.last, last == sp || last == htab {
            return .failure(
                Rejection("whitespace between header field name and ':' in '\(HostPort.clip(name, limit: 40))'"))
        }
        if let bad = nameBytes.first(where: { !isTokenByte($0) }) {
            return .failure(
                Rejection(
                    "invalid character \(HostPort.describe(byte: bad)) in header field name '\(HostPort.clip(name, limit: 40))'"
                ))
        }
        var value = line[(colon + 1)...]
        while let f = value.first, f == sp || f == htab { value = value.dropFirst() }
        while let l = value.last, l == sp || l == htab { value = value.dropLast() }
        return .success((name, String(decoding: value, as: UTF8.self)))
    }

    /// RFC 9110 `tchar`.
    private static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"),
            UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}
