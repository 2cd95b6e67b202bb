import Testing
@testable import VeilTLS

@Suite struct ServerHelloTests {
    @Test func tls13ServerHello() throws {
        let hello = try ServerHello(body: Fixtures.messageBody(Fixtures.tls13Curl[1]))
        #expect(hello.legacyVersion == 0x0303)
        #expect(hello.selectedVersion == 0x0304)
        #expect(hello.cipherSuite == 0x1302)
        #expect(hello.compression == 0)
        #expect(hello.sessionID.count == 32)
        #expect(hello.alpn == nil)
        #expect(hello.keyShareGroup == 0x1d)
        #expect(!hello.isHelloRetryRequest)
        #expect(hello.extensions.map(\.type) == [43, 51])
        #expect(hello.summary == "ServerHello version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 alpn=-")
    }

    @Test func tls12ServerHelloWithALPN() throws {
        let hello = try ServerHello(body: Fixtures.messageBody(Fixtures.tls12Full[1]))
        #expect(hello.selectedVersion == 0x0303)
        #expect(hello.cipherSuite == 0xc02c)
        #expect(hello.alpn == "http/1.1")
        #expect(hello.findExtension(TLSExtension.supportedVersions) == nil)
        #expect(hello.summary == "ServerHello version=TLSv1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 alpn=http/1.1")
    }

    @Test func helloRetryRequest() throws {
        let hello = try ServerHello(body: Fixtures.messageBody(Fixtures.tls13HRR[1]))
        #expect(hello.isHelloRetryRequest)
        #expect(hello.random == ServerHello.helloRetryRequestRandom)
        #expect(hello.selectedVersion == 0x0304)
        #expect(hello.keyShareGroup == 0x18)
        #expect(hello.summary == "HelloRetryRequest cipher=TLS_AES_256_GCM_SHA384 group=secp384r1")
    }

    @Test func helloRetryRequestRandomIsSHA256OfTheName() {
        #expect(ServerHello.helloRetryRequestRandom
            == decodeHex("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"))
    }

    @Test func syntheticRetryWithoutKeyShare() throws {
        let body = Build.serverHello(random: ServerHello.helloRetryRequestRandom, suite: 0x1301,
                                     extensions: [Build.ext(43, [3, 4])])
        let hello = try ServerHello(body: body)
        #expect(hello.isHelloRetryRequest)
        #expect(hello.summary == "HelloRetryRequest cipher=TLS_AES_128_GCM_SHA256")
    }

    @Test func legacyServerHelloWithoutExtensions() throws {
        let hello = try ServerHello(body: Build.serverHello(suite: 0x009c, extensions: nil))
        #expect(hello.selectedVersion == 0x0303)
        #expect(hello.summary == "ServerHello version=TLSv1.2 cipher=TLS_RSA_WITH_AES_128_GCM_SHA256 alpn=-")
    }

    static let malformedServerHellos: [MalformedCase] = [
        MalformedCase("duplicate extension", Build.serverHello(extensions: [Build.ext(43, [3, 4]), Build.ext(43, [3, 4])])),
        MalformedCase("long supported_versions", Build.serverHello(extensions: [Build.ext(43, [3, 4, 3, 3])])),
        MalformedCase("short supported_versions", Build.serverHello(extensions: [Build.ext(43, [3])])),
        MalformedCase("two ALPN protocols", Build.serverHello(extensions: [Build.alpn(["h2", "http/1.1"])])),
        MalformedCase("empty ALPN protocol", Build.serverHello(extensions: [Build.ext(16, Build.vec16([0]))])),
        MalformedCase("key_share without key", Build.serverHello(extensions: [Build.ext(51, Build.u16(0x1d))])),
        MalformedCase("trailing bytes", Build.serverHello(extensions: [Build.ext(43, [3, 4])]) + [0]),
        MalformedCase("truncated", Array(Build.serverHello(extensions: nil).dropLast())),
    ]

    @Test(arguments: malformedServerHellos)
    func rejectsMalformed(_ input: MalformedCase) {
        #expect(throws: TLSParseError.self) { try ServerHello(body: input.body) }
    }
}
