import Testing
@testable import VeilTLS

@Suite struct ClientHelloTests {
    @Test func curlTLS13ClientHello() throws {
        let record = Fixtures.tls13Curl[0]
        let hello = try ClientHello(body: Fixtures.messageBody(record))
        #expect(hello.legacyVersion == 0x0303)
        #expect(hello.random.count == 32)
        #expect(hello.sessionID.count == 32)
        #expect(hello.cipherSuites.count == 31)
        #expect(Array(hello.cipherSuites.prefix(4)) == [0x1302, 0x1303, 0x1301, 0xc02c])
        #expect(hello.compressionMethods == [0])
        #expect(hello.extensions.map(\.type) == [0, 11, 10, 16, 22, 23, 49, 13, 43, 45, 51, 21])
        #expect(hello.serverName == "localhost")
        #expect(hello.alpn == ["h2", "http/1.1"])
        #expect(hello.supportedVersions == [0x0304, 0x0303, 0x0302, 0x0301])
        #expect(hello.groups == [0x1d, 0x17, 0x1e, 0x19, 0x18, 0x100, 0x101, 0x102, 0x103, 0x104])
        #expect(hello.keyShareGroups == [0x1d])
        #expect(hello.signatureAlgorithms.count == 20)
        #expect(Array(hello.signatureAlgorithms.prefix(4)) == [0x0403, 0x0503, 0x0603, 0x0807])
        #expect(!hello.hasEncryptedClientHello)
        #expect(!hello.hasEarlyData)
        #expect(hello.greaseCount == 0)
        #expect(hello.summary == "ClientHello sni=localhost alpn=h2,http/1.1 versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no")
        #expect(hello.findExtension(TLSExtension.supportedVersions)?.data == [8, 3, 4, 3, 3, 3, 2, 3, 1])
    }

    @Test func serverNameRangePointsAtTheNameInTheMessageAndRecord() throws {
        for (record, name, offset) in [(Fixtures.tls13Curl[0], "localhost", 148), (Fixtures.tls12Full[0], "x.example", 110),
                                       (Fixtures.tls12Resumed[0], "x.example", 142), (Fixtures.tls13HRR[0], "hrr.example", 148)] {
            let hello = try ClientHello(body: Fixtures.messageBody(record))
            let range = try #require(hello.serverNameValueRange)
            #expect(range == offset..<offset + name.utf8.count)
            // The record body starts with the handshake header, so the range indexes it directly.
            #expect(String(decoding: record.body[range], as: UTF8.self) == name)
            #expect(hello.serverName == name)
        }
    }

    @Test func openSSLTLS12ClientHelloHasNoSupportedVersions() throws {
        let hello = try ClientHello(body: Fixtures.messageBody(Fixtures.tls12Full[0]))
        #expect(hello.supportedVersions.isEmpty)
        #expect(hello.keyShareGroups.isEmpty)
        #expect(hello.sessionID.isEmpty)
        #expect(hello.offeredVersions == [0x0303])
        #expect(hello.summary == "ClientHello sni=x.example alpn=h2,http/1.1 versions=TLSv1.2 ech=no")
    }

    @Test func secondClientHelloAfterRetryCarriesTheNewKeyShare() throws {
        let first = try ClientHello(body: Fixtures.messageBody(Fixtures.tls13HRR[0]))
        let second = try ClientHello(body: Fixtures.messageBody(Fixtures.tls13HRR[4]))
        #expect(first.keyShareGroups == [0x1d])
        #expect(second.keyShareGroups == [0x18])
        #expect(first.groups == [0x1d, 0x18])
        #expect(first.summary == "ClientHello sni=hrr.example alpn=- versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no")
    }

    @Test func countsGREASE() throws {
        let body = Build.clientHello(suites: [0x0a0a, 0x1301, 0x1302], extensions: [
            Build.ext(0x1a1a, []),
            Build.sni("grease.test"),
            Build.groups([0x3a3a, 0x001d]),
            Build.versions([0x4a4a, 0x0304, 0x0303]),
            Build.keyShares([0x3a3a, 0x001d]),
            Build.ext(0x2a2a, [0]),
        ])
        let hello = try ClientHello(body: body)
        #expect(hello.greaseCount == 5)          // 1 suite, 2 extensions, 1 group, 1 version
        #expect(hello.keyShareGroups == [0x3a3a, 0x1d])
        #expect(hello.offeredVersions == [0x0304, 0x0303])
        #expect(hello.summary == "ClientHello sni=grease.test alpn=- versions=TLSv1.3,TLSv1.2 ech=no")
    }

    @Test func echAndEarlyData() throws {
        let hello = try ClientHello(body: Build.clientHello(extensions: [
            Build.sni("public.example"), Build.ext(0xfe0d, [0, 1, 2]), Build.ext(42, []), Build.alpn(["h2"]),
        ]))
        #expect(hello.hasEncryptedClientHello)
        #expect(hello.hasEarlyData)
        #expect(hello.summary == "ClientHello sni=public.example alpn=h2 versions=TLSv1.2 ech=yes")
    }

    @Test func legacyClientHelloWithoutExtensions() throws {
        let hello = try ClientHello(body: Build.clientHello(extensions: nil))
        #expect(hello.extensions.isEmpty)
        #expect(hello.serverName == nil)
        #expect(hello.serverNameValueRange == nil)
        #expect(hello.summary == "ClientHello sni=- alpn=- versions=TLSv1.2 ech=no")
    }

    @Test func allowedHostNameCharacters() throws {
        let hello = try ClientHello(body: Build.clientHello(extensions: [Build.sni("A-b_9.example.")]))
        #expect(hello.serverName == "A-b_9.example.")
    }

    static let malformedClientHellos: [MalformedCase] = [
        MalformedCase("control byte", Build.clientHello(extensions: [Build.sni([0x61, 0x07, 0x62])])),
        MalformedCase("space", Build.clientHello(extensions: [Build.sni("a b")])),
        MalformedCase("NUL", Build.clientHello(extensions: [Build.sni([0x61, 0x00])])),
        MalformedCase("non-ASCII", Build.clientHello(extensions: [Build.sni([0x61, 0xc3, 0xa9])])),
        MalformedCase("quote", Build.clientHello(extensions: [Build.sni("a\"b")])),
        MalformedCase("empty host name", Build.clientHello(extensions: [Build.sni("")])),
        MalformedCase("empty server_name list", Build.clientHello(extensions: [Build.ext(0, Build.vec16([]))])),
        MalformedCase("two host names", Build.clientHello(extensions: [Build.ext(0, Build.vec16([0] + Build.vec16([0x61]) + [0] + Build.vec16([0x62])))])),
        MalformedCase("server_name list shorter than extension", Build.clientHello(extensions: [Build.ext(0, Build.vec16([0] + Build.vec16([0x61])) + [0])])),
        MalformedCase("host name longer than list", Build.clientHello(extensions: [Build.ext(0, Build.vec16([0, 0, 9, 0x61]))])),
        MalformedCase("duplicate extension", Build.clientHello(extensions: [Build.alpn(["h2"]), Build.alpn(["h2"])])),
        MalformedCase("duplicate unknown extension", Build.clientHello(extensions: [Build.ext(0x1234, []), Build.ext(0x1234, [])])),
        MalformedCase("empty ALPN name", Build.clientHello(extensions: [Build.alpn(["h2", ""])])),
        MalformedCase("empty ALPN list", Build.clientHello(extensions: [Build.ext(16, Build.vec16([]))])),
        MalformedCase("odd supported_versions", Build.clientHello(extensions: [Build.ext(43, Build.vec8([3, 4, 3]))])),
        MalformedCase("empty supported_groups", Build.clientHello(extensions: [Build.ext(10, Build.vec16([]))])),
        MalformedCase("empty key_exchange", Build.clientHello(extensions: [Build.ext(51, Build.vec16(Build.u16(0x1d) + Build.vec16([])))])),
        MalformedCase("key_share trailing byte", Build.clientHello(extensions: [Build.ext(51, Build.vec16(Build.u16(0x1d) + Build.vec16([1])) + [0])])),
        MalformedCase("odd signature_algorithms", Build.clientHello(extensions: [Build.ext(13, Build.vec16([4, 3, 5]))])),
        MalformedCase("non-empty early_data", Build.clientHello(extensions: [Build.ext(42, [0])])),
        MalformedCase("extension longer than block", Build.clientHello(extensions: [Build.u16(0x1234) + Build.u16(10) + [1, 2]])),
        MalformedCase("odd cipher_suites", Build.u16(0x0303) + [UInt8](repeating: 0, count: 32) + [0, 0, 3, 0x13, 0x01, 0x13, 1, 0]),
        MalformedCase("empty cipher_suites", Build.u16(0x0303) + [UInt8](repeating: 0, count: 32) + [0, 0, 0, 1, 0]),
        MalformedCase("no compression methods", Build.u16(0x0303) + [UInt8](repeating: 0, count: 32) + [0, 0, 2, 0x13, 0x01, 0]),
        MalformedCase("session_id of 33 bytes", Build.clientHello(sessionID: [UInt8](repeating: 1, count: 33))),
        MalformedCase("bytes after extensions", Build.clientHello(extensions: [Build.sni("a")], trailing: [0])),
        MalformedCase("random cut short", Build.u16(0x0303) + [1, 2, 3]),
    ]

    @Test(arguments: malformedClientHellos)
    func rejectsMalformed(_ input: MalformedCase) {
        #expect(throws: TLSParseError.self) { try ClientHello(body: input.body) }
    }

    @Test func malformedErrorsSayWhatWasWrong() {
        #expect(throws: TLSParseError.malformed("server_name: host_name contains byte 0x07")) {
            try ClientHello(body: Build.clientHello(extensions: [Build.sni([0x61, 0x07])]))
        }
        #expect(throws: TLSParseError.malformed("ClientHello extensions: duplicate extension 0x0010")) {
            try ClientHello(body: Build.clientHello(extensions: [Build.alpn(["h2"]), Build.alpn(["h2"])]))
        }
        #expect(throws: TLSParseError.truncated("ClientHello random")) { try ClientHello(body: [3, 3, 0]) }
    }
}
