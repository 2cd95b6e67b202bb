import Testing
@testable import VeilTLS

@Suite struct ECHGreaseAndWireTests {
    @Test func extensionRoundTrips() throws {
        let outer = ECHClientHelloExtension.outer(kdf: 1, aead: 3, configID: 9, enc: [UInt8](repeating: 5, count: 32), payload: [1, 2, 3])
        #expect(try ECHClientHelloExtension(data: outer.encoded) == outer)
        #expect(try ECHClientHelloExtension(data: [1]) == .inner)
        let second = ECHClientHelloExtension.outer(kdf: 1, aead: 1, configID: 9, enc: [], payload: [7])
        #expect(try ECHClientHelloExtension(data: second.encoded) == second)
    }

    @Test(arguments: [
        MalformedCase("empty", []),
        MalformedCase("unknown type", [2]),
        MalformedCase("inner with data", [1, 0]),
        MalformedCase("outer truncated", [0, 0, 1, 0]),
        MalformedCase("empty payload", [0, 0, 1, 0, 1, 7, 0, 0, 0, 0]),
        MalformedCase("enc overruns", [0, 0, 1, 0, 1, 7, 0, 9, 1]),
        MalformedCase("trailing byte", [0, 0, 1, 0, 1, 7, 0, 0, 0, 1, 5, 0]),
    ])
    func malformedExtensionsAreErrors(_ input: MalformedCase) {
        #expect(throws: TLSParseError.self) { _ = try ECHClientHelloExtension(data: input.body) }
    }

    @Test func greaseLooksLikeARealOuterExtension() throws {
        let data = try ECHGrease.extensionData(serverName: "origin.test", alpn: ["h2", "http/1.1"])
        guard case .outer(let kdf, let aead, _, let enc, let payload) = try ECHClientHelloExtension(data: data) else {
            Issue.record("not an outer extension")
            return
        }
        #expect(kdf == 1 && aead == 1)
        #expect(enc.count == 32)
        #expect((payload.count - 16) % 32 == 0 && payload.count > 16 + ECHGrease.unpaddedInnerBase)
        // A valid X25519 key: usable as a recipient public key.
        _ = try HPKE.setupBaseSender(suite: HPKESuite(aead: .aes128GCM), recipientPublicKey: enc, info: [])
        let again = try ECHGrease.extensionData(serverName: "origin.test", alpn: ["h2", "http/1.1"])
        #expect(again != data, "fresh random values each time")
        #expect(again.count == data.count, "same length for the same name and ALPN")
    }

    /// The record filter reassembles a ClientHello split over two records, passes other
    /// records through and answers the verdict once the ServerHello is complete, even when
    /// it arrives a byte at a time.
    @Test func recordFilterWrapsSplitHelloAndWatchesTheServer() throws {
        let s = try ECHClientHelloBuilderTests.setup()
        let filter = ECHRecordFilter(builder: s.builder)
        let inner = ECHClientHelloBuilderTests.inner()
        let split = Build.record(.handshake, Array(inner[0..<40])) + Build.record(.handshake, Array(inner[40...]))
        #expect(try filter.outbound(Array(split[0..<30])) == [])
        let wire = try filter.outbound(Array(split[30...]))
        #expect(wire[0] == 22)
        let outer = Array(wire.dropFirst(5))
        #expect(outer.count == Int(wire[3]) << 8 | Int(wire[4]))
        #expect(try ClientHello(body: Array(outer.dropFirst(4))).serverName == "public.test")
        let (_, encoded, _) = try ECHClientHelloBuilderTests.open(outer, with: s)
        #expect(encoded.count % 32 == 0)

        let hello = try ECHAcceptanceTests.confirmingServerHello(transcriptBefore: inner, inner: inner)
        let fromServer = Build.record(.handshake, hello) + Build.record(.changeCipherSpec, [1])
        var verdicts: [ECHVerdict] = []
        for byte in fromServer {
            if let v = try filter.inbound([byte]) { verdicts.append(v) }
        }
        #expect(verdicts == [.accepted])
        #expect(filter.verdict == .accepted)
        let later = Build.record(.applicationData, [1, 2, 3])
        #expect(try filter.outbound(later) == later, "after the ClientHello everything passes through")
    }

    @Test func recordFilterRefusesGarbageFromOpenSSLOrTheServer() throws {
        let s = try ECHClientHelloBuilderTests.setup()
        let filter = ECHRecordFilter(builder: s.builder)
        #expect(throws: ECHError.self) { _ = try filter.outbound([0x47, 0x45, 0x54, 0x20, 0x2f, 0x20]) }
        let other = ECHRecordFilter(builder: try ECHClientHelloBuilderTests.setup().builder)
        _ = try other.outbound(Build.record(.handshake, ECHClientHelloBuilderTests.inner()))
        #expect(throws: ECHError.self) { _ = try other.inbound(Build.record(.handshake, [2, 0, 0, 3, 1, 2, 3])) }
    }
}
