import Testing
import VeilProxy
import VeilWire
import VeilResolver

@Suite("ListenAddress")
struct ListenAddressTests {
    static func parsed(_ s: String) -> ListenAddress.Parsed? {
        if case .success(let p) = ListenAddress.parse(s, what: "listen") { return p }
        return nil
    }
    static func error(_ s: String) -> String? {
        if case .failure(let e) = ListenAddress.parse(s, what: "listen") { return e.description }
        return nil
    }

    @Test func addresses() {
        #expect(Self.parsed("127.0.0.1:8080")?.address.description == "127.0.0.1:8080")
        #expect(Self.parsed("127.0.0.1:8080")?.byName == false)
        #expect(Self.parsed("[::1]:8443")?.address.ipString == "::1")
        #expect(Self.parsed("0.0.0.0:0")?.address.port == 0)
    }

    @Test func localhostIsIPv4Loopback() {
        for s in ["localhost:8080", "LocalHost:8080", "localhost.:8080"] {
            let p = Self.parsed(s)
            #expect(p?.address.description == "127.0.0.1:8080", "\(s)")
            #expect(p?.byName == true, "\(s)")
        }
    }

    @Test func otherNamesAreRefusedWithTheReason() {
        let e = Self.error("proxy.example:8080") ?? ""
        #expect(e.contains("'proxy.example' is not an IP address"))
        #expect(e.contains("not looked up"))
        #expect(e.contains("127.0.0.1:8080"))
        #expect(Self.error("localhost")?.contains("is not IP:PORT, [IPv6]:PORT or localhost:PORT") == true)
        #expect(Self.error("localhost:http")?.contains("'http' is not a port") == true)
        #expect(Self.error("localhost:70000")?.contains("is not a port") == true)
        #expect(Self.error("[localhost]:80") != nil)
        #expect(Self.error(":80") != nil)
    }

    @Test func builderUsesItAndNamesTheTLSListenerLocalhost() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "listen", value: "localhost:18080", origin: "--listen")
        try b.apply(key: "listen-tls", value: "localhost:18443", origin: "--listen-tls")
        let c = try b.build()
        #expect(c.listen.description == "127.0.0.1:18080")
        #expect(c.listenTLS?.description == "127.0.0.1:18443")
        #expect(c.listenTLSName == "localhost")

        var ip = ConfigurationBuilder()
        try ip.apply(key: "listen-tls", value: "localhost:18443", origin: "file")
        try ip.apply(key: "listen-tls", value: "127.0.0.1:18443", origin: "--listen-tls")
        #expect(try ip.build().listenTLSName == nil)

        var named = ConfigurationBuilder()
        try named.apply(key: "listen-tls", value: "localhost:18443", origin: "--listen-tls")
        try named.apply(key: "listen-tls-name", value: "proxy.test", origin: "--listen-tls-name")
        #expect(try named.build().listenTLSName == "proxy.test")
    }
}
