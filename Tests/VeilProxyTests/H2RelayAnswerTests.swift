import Testing
import VeilHTTP2
@testable import VeilProxy
import VeilWire

/// How an HTTP/2 relay stream reads its bridged connection's HTTP/1.1 answer (`RelayAnswer`, as
/// the relay tunnel's client does): where the head ends, the status, and (RESOLVE) the Veil-*
/// fields passed on; anything else (status 0) is a 502.
@Suite("H2RelayStream answer")
struct H2RelayAnswerTests {
    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @Test func headEndAndStatus() {
        let answer = bytes("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Bearer\r\n\r\ntail")
        #expect(RelayAnswer(answer)?.headLength == answer.count - 4)
        #expect(RelayAnswer(answer)?.status == 407)
        #expect(RelayAnswer(bytes("HTTP/1.1 200 Connection established\r\n\r\n"))?.status == 200)
        #expect(RelayAnswer(bytes("HTTP/1.1 200 OK\r\n")) == nil)
    }

    @Test func notAnAnswer() {
        #expect(RelayAnswer(bytes("HTTP/1.1 2x0 OK\r\n\r\n"))?.status == 0)
        #expect(RelayAnswer(bytes("SSH-2.0-x\r\n\r\n"))?.status == 0)
        #expect(RelayAnswer(bytes("HTTP/1.1 20")) == nil)
    }

    @Test func veilFieldsOnly() {
        let head = bytes("HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1 2001:db8::1\r\nContent-Length: 0\r\nVeil-TTL:300 \r\nConnection: close\r\n\r\n")
        #expect(RelayAnswer(head).map { H2RelayStream.veilFields($0, in: head) } == [
            HPACKHeader(name: "veil-addresses", value: "192.0.2.1 2001:db8::1"),
            HPACKHeader(name: "veil-ttl", value: "300"),
        ])
    }
}
