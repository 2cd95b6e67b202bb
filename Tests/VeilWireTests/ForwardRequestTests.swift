import Testing
@testable import VeilWire

@Suite("Plain-http forwarding")
struct ForwardRequestTests {
    private let parser = ConnectRequestParser(allowsForward: true)

    private func parse(_ text: String) -> ConnectRequest? {
        if case .request(let r) = parser.parse(Array(text.utf8)) { return r }
        return nil
    }

    private func rejection(_ text: String) -> String? {
        if case .reject(_, let reason) = parser.parse(Array(text.utf8)) { return reason }
        return nil
    }

    @Test func absoluteURLs() throws {
        let r = try #require(parse("GET http://Example.com/a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"))
        #expect(r.isForward && r.path == "/a?b=c" && r.target.description == "example.com:80")
        #expect(parse("GET http://example.com HTTP/1.1\r\n\r\n")?.path == "/")
        #expect(parse("GET http://example.com?q HTTP/1.1\r\n\r\n")?.path == "/?q")
        #expect(parse("HEAD http://[::1]:8080/x HTTP/1.0\r\n\r\n")?.target.description == "[::1]:8080")
        #expect(parse("CONNECT example.com:443 HTTP/1.1\r\n\r\n")?.isForward == false)
    }

    @Test func refusedURLs() {
        #expect(rejection("GET https://example.com/ HTTP/1.1\r\n\r\n")?.contains("CONNECT") == true)
        #expect(rejection("GET / HTTP/1.1\r\n\r\n")?.contains("send absolute URLs") == true)
        #expect(rejection("GET http://u:p@example.com/ HTTP/1.1\r\n\r\n")?.contains("user info") == true)
        #expect(rejection("GET http://example.com/#f HTTP/1.1\r\n\r\n")?.contains("fragment") == true)
        #expect(rejection("GET http:///x HTTP/1.1\r\n\r\n")?.contains("no host") == true)
        #expect(rejection("GET http://example.com:99999/ HTTP/1.1\r\n\r\n") != nil)
        // The relay's parser forwards nothing.
        if case .reject(let status, _) = ConnectRequestParser().parse(Array("GET http://x/ HTTP/1.1\r\n\r\n".utf8)) {
            #expect(status == .methodNotAllowed)
        } else {
            Issue.record("accepted")
        }
    }

    @Test func headIsRewritten() throws {
        let r = try #require(parse("POST http://example.com:8080/p HTTP/1.0\r\nHost: other\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nProxy-Authorization: Basic eA==\r\nProxy-Connection: x\r\nTE: trailers\r\nUpgrade: h2c\r\nKeep-Alive: 5\r\nContent-Length: 4\r\nX-End: 2\r\n\r\n"))
        let f = try ForwardRequest(r)
        #expect(String(decoding: f.head, as: UTF8.self)
            == "POST /p HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 4\r\nX-End: 2\r\nConnection: close\r\n\r\n")
        #expect(f.body == .length(4))
    }

    @Test func framing() throws {
        func body(_ headers: String) throws -> ForwardRequest.Body {
            let r = try #require(parse("POST http://e/ HTTP/1.1\r\n\(headers)\r\n"))
            return try ForwardRequest(r).body
        }
        #expect(try body("") == .none)
        #expect(try body("Content-Length: 0\r\n") == .none)
        #expect(try body("Transfer-Encoding: Chunked\r\n") == .chunked)
        #expect(try body("Content-Length: 7\r\nContent-Length: 7\r\n") == .length(7))
        for bad in ["Content-Length: 7\r\nContent-Length: 8\r\n", "Content-Length: -1\r\n", "Content-Length: 1e3\r\n",
                    "Transfer-Encoding: gzip, chunked\r\n", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"] {
            #expect(throws: ForwardRequest.Refusal.self, "\(bad)") { _ = try body(bad) }
        }
    }

    @Test func chunkedBodyEnds() {
        let text = Array("4;ext=1\r\nabcd\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\nGET http://next/".utf8)
        let bodyLength = text.count - "GET http://next/".utf8.count
        // Whole, and byte by byte: the same end.
        var whole = ChunkedBodyScanner()
        #expect(text.withUnsafeBytes { whole.scan($0) } == .done(count: bodyLength))
        var stepwise = ChunkedBodyScanner()
        var taken = 0
        for (i, b) in text.enumerated() {
            let outcome = [b].withUnsafeBytes { stepwise.scan($0) }
            if case .done(let n) = outcome {
                #expect(n == 1 && i == bodyLength - 1)
                taken = i + 1
                break
            }
            #expect(outcome == .more(count: 1))
        }
        #expect(taken == bodyLength)
    }

    @Test func malformedChunks() {
        for bad in ["x\r\n", "4\r\nabcdX\r\n", "4\nabcd", "1234567890123456\r\n", "0\r\nbad\u{1}\r\n\r\n"] {
            var s = ChunkedBodyScanner()
            let outcome = Array(bad.utf8).withUnsafeBytes { s.scan($0) }
            guard case .malformed = outcome else {
                Issue.record("\(bad.debugDescription): \(outcome)")
                continue
            }
        }
    }
}
