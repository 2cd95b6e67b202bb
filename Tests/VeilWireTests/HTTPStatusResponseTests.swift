import Testing
import VeilWire

private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("HTTPStatusResponse")
struct HTTPStatusResponseTests {
    @Test func connectionEstablished() {
        #expect(text(HTTPStatusResponse.bytes(status: .ok)) == "HTTP/1.1 200 Connection established\r\n\r\n")
        #expect(
            text(HTTPStatusResponse.bytes(status: .ok, reason: "ignored", httpVersion: "HTTP/1.1"))
                == "HTTP/1.1 200 Connection established\r\n\r\n")
        #expect(
            text(HTTPStatusResponse.bytes(status: .ok, reason: nil, httpVersion: "HTTP/1.0"))
                == "HTTP/1.0 200 Connection established\r\n\r\n")
    }

    @Test func forbidden() {
        let reason = "target localhost:22 denied by rule 'deny *:22'"
        let out = text(HTTPStatusResponse.bytes(status: .forbidden, reason: reason, httpVersion: "HTTP/1.1"))
        let body = reason + "\n"
        #expect(
            out == "HTTP/1.1 403 Forbidden\r\n"
                + "Content-Type: text/plain\r\n"
                + "Content-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n"
                + "Proxy-Agent: veil\r\n"
                + "\r\n" + body)
    }

    @Test func methodNotAllowedHasAllowHeader() {
        let out = text(HTTPStatusResponse.bytes(status: .methodNotAllowed, reason: "method GET not supported"))
        #expect(out.hasPrefix("HTTP/1.1 405 Method Not Allowed\r\n"))
        #expect(out.contains("\r\nAllow: CONNECT\r\n"))
        #expect(out.hasSuffix("\r\n\r\nmethod GET not supported\n"))
    }

    @Test func defaultReasonIsPhrase() {
        let out = text(HTTPStatusResponse.bytes(status: .gatewayTimeout, reason: nil, httpVersion: "HTTP/1.1"))
        #expect(out.hasPrefix("HTTP/1.1 504 Gateway Timeout\r\n"))
        #expect(out.hasSuffix("\r\n\r\nGateway Timeout\n"))
        #expect(out.contains("Content-Length: 16\r\n"))
    }

    @Test func reasonPhrases() {
        let expected: [HTTPStatusResponse.Status: (Int, String)] = [
            .ok: (200, "Connection established"),
            .badRequest: (400, "Bad Request"),
            .forbidden: (403, "Forbidden"),
            .methodNotAllowed: (405, "Method Not Allowed"),
            .proxyAuthenticationRequired: (407, "Proxy Authentication Required"),
            .tooManyRequests: (429, "Too Many Requests"),
            .requestTimeout: (408, "Request Timeout"),
            .requestHeaderFieldsTooLarge: (431, "Request Header Fields Too Large"),
            .badGateway: (502, "Bad Gateway"),
            .serviceUnavailable: (503, "Service Unavailable"),
            .gatewayTimeout: (504, "Gateway Timeout"),
        ]
        #expect(HTTPStatusResponse.Status.allCases.count == expected.count)
        for status in HTTPStatusResponse.Status.allCases {
            #expect(status.rawValue == expected[status]?.0)
            #expect(status.reasonPhrase == expected[status]?.1)
        }
    }

    @Test func reasonIsSanitised() throws {
        let out = text(
            HTTPStatusResponse.bytes(
                status: .badRequest, reason: "bad\r\nSet-Cookie: x=1\r\n\r\n<html>", httpVersion: "HTTP/1.1"))
        let split = try #require(out.firstRange(of: "\r\n\r\n"))
        let head = out[..<split.lowerBound]
        let body = out[split.upperBound...]
        #expect(body == "bad  Set-Cookie: x=1    <html>\n")
        #expect(!head.contains("Set-Cookie"))
        #expect(out.contains("Content-Length: \(body.utf8.count)\r\n"))
    }

    @Test func contentLengthCountsUTF8Bytes() {
        let out = text(HTTPStatusResponse.bytes(status: .badGateway, reason: "héllo", httpVersion: "HTTP/1.1"))
        #expect(out.contains("Content-Length: 7\r\n"))
        #expect(out.hasSuffix("héllo\n"))
    }

    @Test func emptyAndLongReasons() {
        #expect(HTTPStatusResponse.sanitise("") == "-")
        #expect(HTTPStatusResponse.sanitise(" \n ") == "-")
        #expect(HTTPStatusResponse.sanitise("\u{85}x\u{2028}") == "x")
        let long = HTTPStatusResponse.sanitise(String(repeating: "a", count: 2000))
        #expect(long.count == HTTPStatusResponse.maxReasonLength + 3)
        #expect(long.hasSuffix("..."))
    }

    @Test func unknownVersionFallsBack() {
        let out = text(HTTPStatusResponse.bytes(status: .badRequest, reason: "x", httpVersion: "HTTP/9\r\nX: y"))
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
    }

    @Test func valueForm() {
        let response = HTTPStatusResponse(status: .serviceUnavailable, reason: "too many connections")
        #expect(response.bytes == HTTPStatusResponse.bytes(status: .serviceUnavailable, reason: "too many connections"))
        #expect(response.httpVersion == "HTTP/1.1")
    }
}
