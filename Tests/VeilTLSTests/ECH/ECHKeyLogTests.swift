import Testing
@testable import VeilTLS

/// ECH_SECRET and ECH_CONFIG (RFC 9850 section 2.3): keyed by the ClientHelloOuter's random;
/// the secret is the one the server's SetupBaseR derives (checked with the server's key), the
/// config the ECHConfig's bytes; both lowercase hex; given once.
@Suite struct ECHKeyLogTests {
    @Test func linesCarryTheOuterRandomTheKEMSecretAndTheConfig() throws {
        let s = try ECHClientHelloBuilderTests.setup()
        #expect(s.builder.takeKeyLogLines() == nil, "nothing before the ClientHelloOuter")
        let outer = try s.builder.wrap(innerMessage: ECHClientHelloBuilderTests.inner()).outer
        let lines = try #require(s.builder.takeKeyLogLines())
        #expect(lines.count == 2)
        let secretLine = lines[0].split(separator: " "), configLine = lines[1].split(separator: " ")
        #expect(secretLine.count == 3 && configLine.count == 3)
        #expect(secretLine.first == "ECH_SECRET" && configLine.first == "ECH_CONFIG")
        let outerRandom = Array(outer[6..<38])  // header (4), legacy_version (2), random
        #expect(Hex.decode(secretLine[1]) == outerRandom && Hex.decode(configLine[1]) == outerRandom)
        #expect(lines.allSatisfy { $0.utf8.allSatisfy { $0 == 0x20 || $0 == 0x5f || (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x66).contains($0) } })

        // The server's view: decapsulate the outer's enc with its private key.
        let (ech, _, _) = try ECHClientHelloBuilderTests.open(outer, with: s)
        guard case .outer(_, _, _, let enc, _) = ech else { Issue.record("not outer"); return }
        let serverSecret = try DHKEM.decapsulate(enc: enc, recipientPrivateKey: s.privateKey)
        #expect(Hex.decode(secretLine[2]) == serverSecret)
        #expect(secretLine[2].count == 64)
        #expect(Hex.decode(configLine[2]) == s.config.bytes)
        #expect(s.config.bytes.count > 40 && s.config.bytes[0] == 0xfe && s.config.bytes[1] == 0x0d, "a whole ECHConfig, version first")

        #expect(s.builder.takeKeyLogLines() == nil, "given once")
        #expect(s.builder.kemSharedSecret.isEmpty, "zeroed and dropped")
    }
}
