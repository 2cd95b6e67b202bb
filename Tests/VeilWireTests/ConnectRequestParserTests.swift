import Testing
import VeilWire

private let parser = ConnectRequestParser()

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

private func request(_ input: [UInt8], _ p: ConnectRequestParser = parser) -> ConnectRequest? {
    if case .request(let r) = p.parse(input) { return r }
    return nil
}

private func rejection(_ input: [UInt8], _ p: ConnectRequestParser = parser)
    -> (status: HTTPStatusResponse.Status, reason: String)?
{
    if case .reject(let status, let reason) = p.parse(input) { return (status, reason) }
    return nil
}

private func needsMore(_ input: [UInt8], _ p: ConnectRequestParser = parser) -> Bool {
    if case .needMore = p.parse(input) { return true }
    return false
}

@Suite("ConnectRequestParser")
struct ConnectRequestParserTests {
    @Test func basicRequest() throws {
        let text = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nUser-Agent: curl/8.5.0\r\n\r\n"
        let r = try #require(request(bytes(text)))
        #expect(r.method == "CONNECT")
        #expect(r.target == (try HostPort(parsing: "example.com:443")))
        #expect(r.httpVersion == "HTTP/1.1")
        #expect(r.headers.count == 2)
        #expect(r.headers[0].name == "Host")
        #expect(r.headers[0].value == "example.com:443")
        #expect(r.header("user-agent") == "curl/8.5.0")
        #expect(r.header("HOST") == "example.com:443")
        #expect(r.header("missing") == nil)
        #expect(r.headerLength == text.utf8.count)
    }

    @Test func noHeadersHTTP10() throws {
        let r = try #require(request(bytes("CONNECT 10.0.0.1:22 HTTP/1.0\r\n\r\n")))
        #expect(r.httpVersion == "HTTP/1.0")
        #expect(r.target.kind == .ipv4)
        #expect(r.headers.isEmpty)
        #expect(r.headerLength == 32)
    }

    @Test func ipv6Target() throws {
        let r = try #require(request(bytes("CONNECT [2001:db8::1]:443 HTTP/1.1\r\n\r\n")))
        #expect(r.target.kind == .ipv6)
        #expect(r.target.host == "2001:db8::1")
        #expect(r.target.description == "[2001:db8::1]:443")
    }

    @Test func pipelinedBytesAreNotConsumed() throws {
        let head = "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]
        let input = bytes(head) + hello
        let r = try #require(request(input))
        #expect(r.headerLength == head.utf8.count)
        #expect(Array(input[r.headerLength...]) == hello)
    }

    @Test func pipelinedTextThatLooksLikeHeadersIsIgnored() throws {
        let head = "CONNECT example.com:443 HTTP/1.1\r\n\r\n"
        let r = try #require(request(bytes(head + "GET / HTTP/1.1\r\n\0garbage")))
        #expect(r.headerLength == head.utf8.count)
    }

    @Test func lfOnlyLineEndings() throws {
        let text = "CONNECT example.com:443 HTTP/1.1\nHost: example.com\n\nDATA"
        let r = try #require(request(bytes(text)))
        #expect(r.header("host") == "example.com")
        #expect(r.headerLength == text.utf8.count - 4)
    }

    @Test func mixedLineEndings() throws {
        let text = "CONNECT example.com:443 HTTP/1.1\r\nA: 1\n\r\n"
        let r = try #require(request(bytes(text)))
        #expect(r.headerLength == text.utf8.count)
    }

    @Test func leadingEmptyLinesIgnored() throws {
        let text = "\r\n\nCONNECT example.com:443 HTTP/1.1\r\n\r\n"
        let r = try #require(request(bytes(text)))
        #expect(r.headerLength == text.utf8.count)
    }

    @Test func incrementalFeeding() throws {
        let text = bytes("CONNECT example.com:443 HTTP/1.1\r\nProxy-Authorization: Basic abc\r\n\r\n")
        for cut in 0..<text.count {
            #expect(needsMore(Array(text[..<cut])), "cut at \(cut)")
        }
        #expect(request(text) != nil)
    }

    @Test func headerValueWhitespaceTrimmed() throws {
        let r = try #require(request(bytes("CONNECT a:1 HTTP/1.1\r\nX-A:   spaced\tvalue \t \r\nX-B:\r\nX-C:v\r\nx-a: second\r\n\r\n")))
        #expect(r.header("x-a") == "spaced\tvalue")
        #expect(r.header("x-b") == "")
        #expect(r.header("x-c") == "v")
        #expect(r.headers(named: "X-A") == ["spaced\tvalue", "second"])
    }

    @Test func obsTextInValueAllowed() throws {
        let r = try #require(request(bytes("CONNECT a:1 HTTP/1.1\r\n") + [0x58, 0x3A, 0x20, 0xC3, 0xA9, 0xFF] + bytes("\r\n\r\n")))
        #expect(r.headers.count == 1)
        #expect(r.header("x")?.hasPrefix("é") == true)
    }

    @Test func tlsClientHelloWithoutConnect() {
        let r = rejection([0x16, 0x03, 0x01])
        #expect(r?.status == .badRequest)
        #expect(r?.reason == "TLS handshake received; configure the client to use this as an HTTP proxy (CONNECT)")
        #expect(rejection([0x16])?.reason == ConnectRequestParser.tlsHandshakeReason)
    }

    @Test func socksGreeting() {
        let r = rejection([0x05, 0x01, 0x00])
        #expect(r?.status == .badRequest)
        #expect(r?.reason == "SOCKS handshake received; configure the client to use this as an HTTP proxy (CONNECT), not SOCKS")
        #expect(rejection([0x04, 0x01, 0x01, 0xBB])?.reason == ConnectRequestParser.socksReason)
    }

    @Test func emptyInputNeedsMore() {
        #expect(needsMore([]))
        #expect(needsMore(bytes("\r\n")))
        #expect(needsMore(bytes("C")))
    }

    @Test func resolveOnlyWhenAllowed() throws {
        let text = "RESOLVE example.com:443 HTTP/1.1\r\nProxy-Authorization: Bearer s\r\n\r\n"
        #expect(rejection(bytes(text))?.status == .methodNotAllowed)
        let relay = ConnectRequestParser(allowsResolve: true)
        let r = try #require(request(bytes(text), relay))
        #expect(r.method == "RESOLVE")
        #expect(r.target == (try HostPort(parsing: "example.com:443")))
        #expect(r.header("proxy-authorization") == "Bearer s")
        #expect(request(bytes("CONNECT example.com:443 HTTP/1.1\r\n\r\n"), relay)?.method == "CONNECT")
        #expect(rejection(bytes("resolve example.com:443 HTTP/1.1\r\n\r\n"), relay)?.status == .methodNotAllowed)
        #expect(rejection(bytes("GET / HTTP/1.1\r\n\r\n"), relay)?.status == .methodNotAllowed)
        #expect(rejection(bytes("RESOLVE /x HTTP/1.1\r\n\r\n"), relay)?.reason.hasPrefix("RESOLVE target must be host:port") == true)
        #expect(rejection(bytes("RESOLVE example.com HTTP/1.1\r\n\r\n"), relay)?.reason.hasPrefix("invalid RESOLVE target") == true)
    }

    @Test func otherMethodsAre405() {
        let r = rejection(bytes("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        #expect(r?.status == .methodNotAllowed)
        #expect(r?.reason == "method GET not supported; this is a CONNECT proxy")
        #expect(rejection(bytes("POST / HTTP/1.1\r\n\r\n"))?.status == .methodNotAllowed)
    }

    @Test func methodIsCaseSensitive() {
        let r = rejection(bytes("connect example.com:443 HTTP/1.1\r\n\r\n"))
        #expect(r?.status == .methodNotAllowed)
        #expect(r?.reason == "method connect not supported; this is a CONNECT proxy (methods are case-sensitive)")
    }

    @Test func rejectedAsSoonAsRequestLineIsComplete() {
        // No blank line yet: a bad request line is answered without waiting.
        #expect(rejection(bytes("GET / HTTP/1.1\r\n"))?.status == .methodNotAllowed)
        #expect(rejection(bytes("CONNECT example.com HTTP/1.1\r\n"))?.status == .badRequest)
    }

    @Test("malformed request lines are 400", arguments: [
        ("CONNECT example.com:443\r\n\r\n", "malformed request line"),
        ("CONNECT  example.com:443 HTTP/1.1\r\n\r\n", "malformed request line"),
        ("CONNECT example.com:443 HTTP/1.1 \r\n\r\n", "malformed request line"),
        (" CONNECT example.com:443 HTTP/1.1\r\n\r\n", "malformed request line"),
        ("CONNECT example.com:443 HTTP/1.1 extra\r\n\r\n", "malformed request line"),
        ("CONNECT\r\n\r\n", "malformed request line"),
        ("SSH-2.0-OpenSSH_9.6\r\n", "malformed request line"),
        ("CONNECT\texample.com:443\tHTTP/1.1\r\n\r\n", "tab in request line"),
        ("CONNECT example.com:443 HTTP/2.0\r\n\r\n", "unsupported HTTP version HTTP/2.0"),
        ("CONNECT example.com:443 HTTP/1.2\r\n\r\n", "unsupported HTTP version HTTP/1.2"),
        ("CONNECT example.com:443 http/1.1\r\n\r\n", "malformed HTTP version 'http/1.1'"),
        ("CONNECT example.com:443 HTTP/1.1.1\r\n\r\n", "malformed HTTP version"),
        ("CONNECT example.com:443 HTTX/1.1\r\n\r\n", "malformed HTTP version"),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "unsupported HTTP version HTTP/2.0"),
    ])
    func malformedRequestLine(text: String, fragment: String) {
        let r = rejection(bytes(text))
        #expect(r?.status == .badRequest, "\(text.debugDescription)")
        #expect(r?.reason.contains(fragment) == true, "\(text.debugDescription): \(r?.reason ?? "accepted")")
    }

    @Test("bad CONNECT targets are 400", arguments: [
        ("example.com", "missing port"),
        ("example.com:", "missing port"),
        ("example.com:0", "out of range"),
        ("example.com:65536", "out of range"),
        ("example.com:https", "invalid port"),
        ("::1:443", "[address]:port"),
        ("[::1]", "missing port"),
        ("[fe80::1%25eth0]:443", "zone ids"),
        ("http://example.com:443", "authority-form"),
        ("example.com:443/path", "authority-form"),
        ("/index.html", "authority-form"),
        ("*", "invalid CONNECT target"),
        ("user:pw@example.com:443", "too many ':'"),
        ("user@example.com:443", "invalid character '@'"),
        ("ex%41mple.com:443", "invalid character '%'"),
        ("127.1:22", "invalid IPv4 address"),
    ])
    func badTarget(target: String, fragment: String) {
        let r = rejection(bytes("CONNECT \(target) HTTP/1.1\r\n\r\n"))
        #expect(r?.status == .badRequest)
        #expect(r?.reason.contains(fragment) == true, "\(target): \(r?.reason ?? "accepted")")
    }

    @Test func targetNamedInReason() {
        let r = rejection(bytes("CONNECT example.com:99999 HTTP/1.1\r\n\r\n"))
        #expect(r?.reason == "invalid CONNECT target 'example.com:99999': port 99999 is out of range; expected 1-65535")
    }

    @Test("bad header lines are 400", arguments: [
        ("NoColonHere\r\n", "header line without ':'"),
        (": value\r\n", "empty header field name"),
        ("Host : example.com\r\n", "whitespace between header field name and ':'"),
        ("Ho st: example.com\r\n", "invalid character 0x20 in header field name"),
        ("Hóst: example.com\r\n", "invalid character 0xC3 in header field name"),
        ("Host: a\r\n folded\r\n", "obsolete line folding"),
        ("Host: a\r\n\tfolded\r\n", "obsolete line folding"),
        ("X: a\u{0}b\r\n", "control character 0x00"),
        ("X: a\u{7f}b\r\n", "control character 0x7F"),
        ("X: a\rb\r\n", "bare CR"),
    ])
    func badHeaderLine(header: String, fragment: String) {
        let r = rejection(bytes("CONNECT example.com:443 HTTP/1.1\r\n" + header + "\r\n"))
        #expect(r?.status == .badRequest)
        #expect(r?.reason.contains(fragment) == true, "\(header.debugDescription): \(r?.reason ?? "accepted")")
    }

    @Test func firstHeaderLineFolded() {
        let r = rejection(bytes("CONNECT example.com:443 HTTP/1.1\r\n Host: x\r\n\r\n"))
        #expect(r?.reason.contains("obsolete line folding") == true)
    }

    @Test func nulBytesInRequestLine() {
        let r = rejection(bytes("CONNECT exa") + [0] + bytes("mple.com:443 HTTP/1.1\r\n\r\n"))
        #expect(r?.status == .badRequest)
        #expect(r?.reason == "control character 0x00 in request line")
    }

    @Test func nulRejectedBeforeLineIsComplete() {
        #expect(rejection(bytes("CONNECT ex") + [0])?.reason == "control character 0x00 in request line")
        #expect(rejection(bytes("CONNECT a:1 HTTP/1.1\r\nX: ") + [0])?.status == .badRequest)
        #expect(rejection([0, 0, 0])?.status == .badRequest)
    }

    @Test func garbageMethodRejectedEarly() {
        let r = rejection(bytes("{\"json\":"))
        #expect(r?.status == .badRequest)
        #expect(r?.reason.contains("malformed request line") == true)
        // A partial but plausible method waits.
        #expect(needsMore(bytes("CONN")))
        #expect(needsMore(bytes("CONNECT exa")))
        #expect(needsMore(bytes("CONNECT a:1 HTTP/1.1\r")))
    }

    @Test func nonASCIIInRequestLine() {
        let r = rejection(bytes("CONNECT exämple.com:443 HTTP/1.1\r\n\r\n"))
        #expect(r?.reason == "non-ASCII byte 0xC3 in request line")
    }

    @Test func bareCRInRequestLine() {
        #expect(rejection(bytes("CONNECT a:1\rHTTP/1.1\r\n\r\n"))?.reason.contains("bare CR") == true)
        #expect(rejection(bytes("CONNECT a:1 HTTP/1.1\rX"))?.reason.contains("bare CR") == true)
    }

    @Test func oversizedHeader() {
        let small = ConnectRequestParser(maxHeaderBytes: 64)
        let head = "CONNECT example.com:443 HTTP/1.1\r\nX-Pad: "
        let filler = String(repeating: "a", count: 64 - head.utf8.count)
        let input = bytes(head + filler)
        #expect(input.count == 64)
        #expect(needsMore(Array(input.dropLast()), small))
        let r = rejection(input, small)
        #expect(r?.status == .requestHeaderFieldsTooLarge)
        #expect(r?.reason == "request header exceeds 64 bytes")
        // More than the limit, even with the terminator after it.
        #expect(rejection(input + bytes("\r\n\r\n"), small)?.status == .requestHeaderFieldsTooLarge)
    }

    @Test func defaultLimitIs8192() {
        #expect(ConnectRequestParser().maxHeaderBytes == 8192)
        let big = bytes("CONNECT example.com:443 HTTP/1.1\r\nX-Pad: " + String(repeating: "a", count: 9000))
        let r = rejection(big)
        #expect(r?.status == .requestHeaderFieldsTooLarge)
        #expect(r?.reason == "request header exceeds 8192 bytes")
    }

    @Test func headExactlyAtLimitIsAccepted() throws {
        let text = "CONNECT a:1 HTTP/1.1\r\n\r\n"
        let exact = ConnectRequestParser(maxHeaderBytes: text.utf8.count)
        let r = try #require(request(bytes(text) + [1, 2, 3], exact))
        #expect(r.headerLength == text.utf8.count)
        let tooSmall = ConnectRequestParser(maxHeaderBytes: text.utf8.count - 1)
        #expect(rejection(bytes(text), tooSmall)?.status == .requestHeaderFieldsTooLarge)
    }

    @Test func unsafeBufferOverload() throws {
        let input = bytes("CONNECT a:1 HTTP/1.1\r\n\r\nrest")
        let result = input.withUnsafeBytes { parser.parse($0) }
        guard case .request(let r) = result else {
            Issue.record("expected a request")
            return
        }
        #expect(r.headerLength == input.count - 4)
    }

    @Test func reasonsAreSingleLine() {
        let inputs: [[UInt8]] = [
            bytes("CONNECT a\u{1}b:1 HTTP/1.1\r\n\r\n"),
            bytes("GET\u{7f} / HTTP/1.1\r\n\r\n"),
            bytes("CONNECT a:1 HTTP/1.1\r\nbad line\r\n\r\n"),
            bytes("CONNECT " + String(repeating: "x", count: 500) + " HTTP/1.1\r\n\r\n"),
        ]
        for input in inputs {
            let reason = rejection(input)?.reason ?? ""
            #expect(!reason.isEmpty)
            #expect(!reason.contains("\r") && !reason.contains("\n"))
            #expect(reason.utf8.count < 300)
        }
    }
}
