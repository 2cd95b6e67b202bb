import Testing
import VeilWire

/// RESOLVE's HTTPS extension: asked for with `Veil-Want: https`, answered with `Veil-HTTPS`
/// (base64 RDATA per record), `Veil-HTTPS-TTL` or `Veil-HTTPS-Error`; older peers on either side.
@Suite struct RelayResolutionHTTPSTests {
    @Test func theRequestAsksOnlyWhenTold() {
        let plain = String(decoding: RelayResolution.request(host: "a.test", port: 443, secret: "s"), as: UTF8.self)
        #expect(!plain.contains("Veil-Want"))
        let https = String(decoding: RelayResolution.request(host: "a.test", port: 443, secret: "s", https: true), as: UTF8.self)
        #expect(https == "RESOLVE a.test:443 HTTP/1.1\r\nHost: a.test:443\r\nVeil-Want: https\r\nProxy-Authorization: Bearer s\r\n\r\n")
        #expect(RelayResolution.wantsHTTPS("https") && RelayResolution.wantsHTTPS("foo, HTTPS"))
        #expect(!RelayResolution.wantsHTTPS(nil) && !RelayResolution.wantsHTTPS("httpsx"))
    }

    @Test func recordsNoneAndErrorsRoundTrip() {
        let records: [[UInt8]] = [[0, 1, 0, 0, 1, 0, 3, 2, 0x68, 0x32], [0, 2, 0]]
        for part in [RelayResolution.HTTPSPart.records(records, ttl: 300, source: "doh https://192.0.2.53/dns-query"),
                     .records([], ttl: 60), .failure("cannot ask")] {
            let bytes = RelayResolution.response(addresses: ["192.0.2.1"], ttl: 30, source: "doh", https: part)
            #expect(RelayResolution.parse(bytes) == .answer(.init(addresses: ["192.0.2.1"], ttl: 30, source: "doh", https: part)))
        }
    }

    /// An older relay's answer has no HTTPS headers: `https` is nil, so the client can tell
    /// "not answered" from "no record".
    @Test func anOlderRelaysAnswerSaysNothingAboutHTTPS() {
        let old = Array("HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1\r\nVeil-TTL: 30\r\nVeil-Source: system\r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(RelayResolution.parse(old) == .answer(.init(addresses: ["192.0.2.1"], ttl: 30, source: "system")))
    }

    @Test func badHTTPSHeadersAreMalformedAnswers() {
        let bad = Array("HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1\r\nVeil-HTTPS: !!notbase64\r\nContent-Length: 0\r\n\r\n".utf8)
        guard case .malformed(let why) = RelayResolution.parse(bad) else { Issue.record("accepted"); return }
        #expect(why.contains("Veil-HTTPS"))
        let ttl = Array("HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1\r\nVeil-HTTPS: AAEA\r\nVeil-HTTPS-TTL: x\r\nContent-Length: 0\r\n\r\n".utf8)
        guard case .malformed = RelayResolution.parse(ttl) else { Issue.record("accepted"); return }
    }

    @Test func base64RoundTrips() {
        var state: UInt32 = 7
        for n in 0..<40 {
            let bytes = (0..<n).map { _ -> UInt8 in state = state &* 1_103_515_245 &+ 12345; return UInt8(state >> 24) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        #expect(Base64.encode(Array("any carnal pleas".utf8)) == "YW55IGNhcm5hbCBwbGVhcw==")
        #expect(Base64.decode("YW5=5") == nil && Base64.decode("Y") == nil)
    }
}
