import Testing
@testable import VeilRuntime

@Suite struct SocketAddressTests {
    @Test func parsesAndPrintsIPv4AndIPv6() throws {
        let v4 = try #require(SocketAddress(parsing: "127.0.0.1:8080"))
        #expect(v4.description == "127.0.0.1:8080")
        #expect(v4.port == 8080)
        let v6 = try #require(SocketAddress(parsing: "[::1]:443"))
        #expect(v6.description == "[::1]:443")
        #expect(v6.ipString == "::1")
    }

    @Test func rejectsNamesAndBadPorts() {
        #expect(SocketAddress(parsing: "localhost:80") == nil)
        #expect(SocketAddress(parsing: "127.0.0.1:70000") == nil)
        #expect(SocketAddress(parsing: "::1:80") == nil)
        #expect(SocketAddress(parsing: "127.0.0.1") == nil)
    }

    @Test func loopbackIsTheParsedLoopbackAndEqualityComparesTheBytes() throws {
        let parsed = try #require(SocketAddress(ip: "127.0.0.1", port: 8080))
        #expect(SocketAddress.loopback(port: 8080) == parsed)
        #expect(SocketAddress.loopback(port: 8080).description == "127.0.0.1:8080")
        #expect(SocketAddress.loopback(port: 8081) != parsed)
        #expect(try #require(SocketAddress(ip: "::1", port: 8080)) != parsed)
    }
}
