import Testing
import VeilRuntime
@testable import VeilProxy
import VeilWire
import VeilResolver
import VeilHTTP2

@Suite("RelayResolution")
struct RelayResolutionTests {
    @Test func roundTrip() {
        let bytes = RelayResolution.response(addresses: ["192.0.2.1", "2001:db8::1"], ttl: 300, source: "doh https://1.1.1.1/dns-query")
        #expect(String(decoding: bytes, as: UTF8.self) == "HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1 2001:db8::1\r\nVeil-TTL: 300\r\nVeil-Source: doh https://1.1.1.1/dns-query\r\nContent-Length: 0\r\n\r\n")
        #expect(RelayResolution.parse(bytes) == .answer(.init(addresses: ["192.0.2.1", "2001:db8::1"], ttl: 300, source: "doh https://1.1.1.1/dns-query")))
    }

    @Test func incompleteHeadNeedsMore() {
        let bytes = Array("HTTP/1.1 200 OK\r\nVeil-Addresses: 192.0.2.1\r\n".utf8)
        #expect(RelayResolution.parse(bytes) == .needMore)
        if case .malformed = RelayResolution.parse(bytes, ended: true) {} else { Issue.record("expected malformed") }
        if case .malformed = RelayResolution.parse([], ended: true) {} else { Issue.record("expected malformed") }
    }

    @Test func missingTTLUsesDefaultAndHeadersAnyCase() {
        let bytes = Array("HTTP/1.1 200 OK\r\nveil-addresses:  10.0.0.1 \r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(RelayResolution.parse(bytes) == .answer(.init(addresses: ["10.0.0.1"], ttl: RelayResolution.defaultTTL, source: "")))
    }

    @Test func errorsCarryStatusAndBody() {
        let body = "cannot resolve x.test: no such name"
        let head = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        #expect(RelayResolution.parse(Array(head.utf8)) == .needMore)
        #expect(RelayResolution.parse(Array((head + body).utf8)) == .refused(502, body))
        #expect(RelayResolution.parse(Array("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 17\r\n\r\nwrong relay secret".utf8)).isRefused(407))
    }

    /// The answer on an HTTP/2 stream (`--relay-mux on`): :status and veil-* fields read as the
    /// HTTP/1.1 head is; a refusal's reason comes in veil-reason; control characters in a field
    /// (which an HTTP/1.1 head could not hold) make it malformed.
    @Test func answerOnAStream() {
        let fields = [HPACKHeader(name: "veil-addresses", value: "192.0.2.1 2001:db8::1"), HPACKHeader(name: "veil-ttl", value: "30"),
                      HPACKHeader(name: "veil-source", value: "static"),
                      HPACKHeader(name: "veil-https-error", value: "the static resolver cannot ask for HTTPS records")]
        #expect(RelayMuxQuery.parse(status: 200, fields: fields) == .answer(.init(
            addresses: ["192.0.2.1", "2001:db8::1"], ttl: 30, source: "static",
            https: .failure("the static resolver cannot ask for HTTPS records"))))
        #expect(RelayMuxQuery.parse(status: 502, fields: [HPACKHeader(name: "veil-reason", value: "cannot resolve x.test: no such name")])
                == .refused(502, "cannot resolve x.test: no such name"))
        #expect(RelayMuxQuery.parse(status: 407, fields: []) == .refused(407, "status 407"))
        if case .malformed = RelayMuxQuery.parse(status: 200, fields: [HPACKHeader(name: "veil-addresses", value: "example.com")]) {} else {
            Issue.record("expected malformed: not an address")
        }
        let injected = [HPACKHeader(name: "veil-source", value: "x\r\nVeil-Addresses: 203.0.113.9"),
                        HPACKHeader(name: "veil-addresses", value: "192.0.2.1")]
        if case .malformed(let why) = RelayMuxQuery.parse(status: 200, fields: injected) {
            #expect(why.contains("veil-source"))
        } else {
            Issue.record("expected malformed: control characters")
        }
    }

    @Test func malformedAnswers() {
        for text in ["HTTP/1.1 200 OK\r\nVeil-TTL: 5\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nVeil-Addresses: \r\n\r\n",
                     "HTTP/1.1 200 OK\r\nVeil-Addresses: example.com\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nVeil-Addresses: 10.0.0.1\r\nVeil-TTL: soon\r\n\r\n",
                     "SSH-2.0-OpenSSH\r\n\r\n"] {
            if case .malformed = RelayResolution.parse(Array(text.utf8)) {} else { Issue.record("not malformed: \(text)") }
        }
    }

    @Test func requestCarriesSecretAndTarget() {
        let r = String(decoding: RelayResolution.request(host: "2001:db8::1", port: 443, secret: "s3"), as: UTF8.self)
        #expect(r == "RESOLVE [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\nProxy-Authorization: Bearer s3\r\n\r\n")
        let parsed = ConnectRequestParser(allowsResolve: true).parse(Array(r.utf8))
        if case .request(let req) = parsed { #expect(req.method == "RESOLVE") } else { Issue.record("not parsed") }
    }

    @Test func relayServerDescription() throws {
        let fp = try #require(RelayFingerprint(bytes: Array(repeating: 1, count: 32)))
        let relay = RelayEndpoint(address: SocketAddress(ip: "127.0.0.1", port: 8443)!, fingerprint: fp, secret: "x")
        let s = DNSServer(relay: relay)
        #expect(s.description == "relay 127.0.0.1:8443")
        #expect(s.kind == .relay)
    }

    @Test func configNeedsRelayForRelayResolver() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "resolver", value: "relay,doh", origin: "t")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "relay", value: "127.0.0.1:8443", origin: "t")
        try b.apply(key: "relay-fingerprint", value: String(repeating: "ab", count: 32), origin: "t")
        try b.apply(key: "relay-secret", value: "a-long-enough-secret-for-tests-123456", origin: "t")
        let c = try b.build()
        #expect(c.resolvers == [.relay, .doh])
        #expect(c.relay != nil)
        #expect(c.route == .direct)
    }
}

extension RelayResolution.ParseResult {
    func isRefused(_ status: Int) -> Bool {
        if case .refused(let s, _) = self { return s == status }
        return false
    }
}
