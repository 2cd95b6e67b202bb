import Testing
@testable import VeilProxy
import VeilRuntime
import VeilWire

@Suite("Relay connection token: VR1<pin>::<secret>@IP:PORT")
struct RelayTokenTests {
    let hex = "5a4e202e6e08f29635a18830144fc10d00f00be6b7360b9fd13230beefc75dc4"

    func parsed(_ text: String) -> RelayToken? {
        if case .success(let t) = RelayToken.parse(text) { return t }
        return nil
    }

    func reason(_ text: String) -> String {
        if case .failure(let e) = RelayToken.parse(text) { return e.description }
        return "parsed"
    }

    @Test func roundTripsIPv4AndIPv6() throws {
        for address in ["203.0.113.7:8443", "[2001:db8::7]:443"] {
            let token = RelayToken(address: try #require(SocketAddress(parsing: address)),
                                   fingerprint: try #require(RelayFingerprint(parsing: hex)), secret: "s3cr:t@x")
            #expect(token.text == "VR1\(hex.uppercased())::s3cr:t@x@\(address)")
            #expect(parsed(token.text) == token)
            #expect(parsed("  \(token.text)\n") == token)
        }
    }

    @Test func theSecretRunsToTheLastAt() throws {
        let t = try #require(parsed("VR1\(hex)::a@b::c@127.0.0.1:9"))
        #expect(t.secret == "a@b::c")
        #expect("\(t.address)" == "127.0.0.1:9")
    }

    @Test func badTokensSayWhatIsWrongWithoutEchoingThem() {
        let cases: [(String, String)] = [
            ("", "does not start with VR1"),
            ("VR2\(hex)::s@127.0.0.1:1", "does not start with VR1"),
            ("VR1\(hex.dropLast())::s@127.0.0.1:1", "not 64 hex digits"),
            ("VR1\(hex.dropLast())g::s@127.0.0.1:1", "not 64 hex digits"),
            ("VR1\(hex):s@127.0.0.1:1", "no '::' after the fingerprint"),
            ("VR1\(hex)::secret-without-address", "no '@' before the relay's address"),
            ("VR1\(hex)::@127.0.0.1:1", "its secret: the secret is empty"),
            ("VR1\(hex)::sec ret@127.0.0.1:1", "its secret: the secret may hold only visible ASCII"),
            ("VR1\(hex)::secret@relay.example:443", "the relay's address is not IP:PORT"),
            ("VR1\(hex)::secret@127.0.0.1", "the relay's address is not IP:PORT"),
        ]
        for (text, why) in cases {
            let r = reason(text)
            #expect(r.contains(why), "\(text): \(r)")
            #expect(!r.contains("secret-without") && !r.contains("sec ret"), "\(r) echoes the token")
        }
    }

    @Test func tokensAndRelaysMakeOneListInOrder() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "route", value: "tunnel", origin: "test")
        try b.apply(environment: ["VEIL_RELAY_TOKEN": "VR1\(hex)::from-token@127.0.0.1:8443"])
        var c = try b.build()
        #expect(c.relays.map { "\($0.address)" } == ["127.0.0.1:8443"])
        #expect(c.relay?.secret == "from-token")
        #expect(c.relay?.fingerprint == RelayFingerprint(parsing: hex))
        // A second relay by flags: its fingerprint and the secret are needed too.
        try b.apply(key: "relay", value: "127.0.0.2:9443", origin: "flag")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "relay-fingerprint", value: String(repeating: "cd", count: 32), origin: "flag")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        try b.apply(key: "relay-secret", value: "flag-secret", origin: "flag")
        c = try b.build()
        #expect(c.relays.map { "\($0.address) \($0.secret)" } == ["127.0.0.1:8443 from-token", "127.0.0.2:9443 flag-secret"])
        // One fingerprint per relay, in order.
        try b.apply(key: "relay", value: "127.0.0.3:9443", origin: "flag")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.build() }
        #expect(throws: ConfigurationBuilder.Error.self) {
            try b.apply(key: "relay-token", value: "@/nonexistent/relay-token", origin: "flag")
        }
    }
}
