import Testing
@testable import VeilTLS

/// ECHClientHelloBuilder on synthetic ClientHelloInners, opened again as a client-facing
/// server would (RFC 9849 section 7.1: SetupBaseR, Open with ClientHelloOuterAAD, then 5.1's
/// reconstruction).
@Suite struct ECHClientHelloBuilderTests {
    struct Setup {
        let builder: ECHClientHelloBuilder
        let privateKey: [UInt8]
        let config: ECHConfig
    }

    static func setup(maxName: UInt8 = 0, aead: UInt16 = 1) throws -> Setup {
        let (sk, pk) = try HPKE.generateKeyPair()
        let list = ECHConfigBytes.list([ECHConfigBytes.config(id: 7, key: pk, suites: [(1, aead)], maxName: maxName)])
        let selection = try ECHConfigList.parse(list).selection()
        return Setup(builder: try ECHClientHelloBuilder(selection: selection), privateKey: sk, config: selection.config)
    }

    static let sessionID = [UInt8](repeating: 0x5e, count: 32)
    static let marker = Build.ext(0xfe0d, [0x01])

    /// A ClientHelloInner message as OpenSSL would write it (marker first, TLS 1.3 only).
    static func inner(name: String? = "origin.test", extra: [[UInt8]] = [], versions: [UInt16] = [0x0304]) -> [UInt8] {
        var exts = [marker]
        if let name { exts.append(Build.sni(name)) }
        exts += [Build.groups([0x1d, 0x17]), Build.sigalgs([0x0403]), Build.alpn(["h2", "http/1.1"]), Build.versions(versions),
                 Build.keyShares([0x1d])] + extra
        return Build.message(1, Build.clientHello(suites: [0x1301, 0x1302], sessionID: sessionID, extensions: exts))
    }

    /// What a client-facing server recovers: the ECHClientHello, the EncodedClientHelloInner
    /// and the ClientHelloInner body rebuilt from it (session id copied from the outer).
    static func open(_ outer: [UInt8], with setup: Setup, context: HPKEContext? = nil) throws -> (ECHClientHelloExtension, [UInt8], HPKEContext) {
        let body = Array(outer.dropFirst(4))
        let hello = try ClientHello(body: body)
        let ext = try #require(hello.findExtension(0xfe0d))
        let ech = try ECHClientHelloExtension(data: ext.data)
        guard case .outer(_, let aead, _, let enc, let payload) = ech else { throw ECHTestFailure("not outer") }
        var aad = body
        let payloadStart = ext.bodyRange.upperBound - payload.count
        for i in payloadStart..<ext.bodyRange.upperBound { aad[i] = 0 }
        let suite = HPKESuite(aead: try #require(HPKESuite.AEAD(rawValue: aead)))
        let ctx = try context ?? HPKE.setupBaseRecipient(suite: suite, encapsulatedKey: enc, recipientPrivateKey: setup.privateKey,
                                                         info: setup.config.hpkeInfo)
        return (ech, try ctx.open(aad: aad, ciphertext: payload), ctx)
    }

    /// 5.1 in reverse: the client_hello of an EncodedClientHelloInner (padding must be zeros),
    /// with the outer's legacy_session_id.
    static func reconstruct(_ encoded: [UInt8], outerSessionID: [UInt8]) throws -> [UInt8] {
        var reader = ByteReader(encoded)
        _ = try reader.readRange(34, "head")
        let session = try reader.readVector(lengthBytes: 1, "session")
        #expect(session.isAtEnd, "legacy_session_id must be empty in the EncodedClientHelloInner")
        _ = try reader.readVector(lengthBytes: 2, "suites")
        _ = try reader.readVector(lengthBytes: 1, "compression")
        _ = try reader.readVector(lengthBytes: 2, "extensions")
        let end = reader.position
        #expect(encoded[end...].allSatisfy { $0 == 0 }, "padding must be zeros")
        return Array(encoded[0..<34]) + Build.vec8(outerSessionID) + Array(encoded[35..<end])
    }

    @Test func outerCarriesThePublicNameAndOpensToTheInner() throws {
        let s = try Self.setup(maxName: 32)
        let inner = Self.inner()
        let wrapped = try s.builder.wrap(innerMessage: inner)
        let outer = try ClientHello(body: Array(wrapped.outer.dropFirst(4)))
        let innerHello = try ClientHello(body: Array(inner.dropFirst(4)))
        #expect(outer.serverName == "public.test")
        #expect(outer.sessionID == Self.sessionID)
        #expect(outer.random != innerHello.random)
        #expect(outer.cipherSuites == innerHello.cipherSuites)
        #expect(outer.alpn == ["h2", "http/1.1"])
        #expect(outer.findExtension(51)?.data == innerHello.findExtension(51)?.data, "key_share copied")
        #expect(outer.extensions.map(\.type) == innerHello.extensions.map(\.type), "same extensions, same order")
        #expect(!Self.contains(wrapped.outer, "origin.test"))

        let (ech, encoded, _) = try Self.open(wrapped.outer, with: s)
        guard case .outer(let kdf, let aead, let configID, let enc, _) = ech else { throw ECHTestFailure("not outer") }
        #expect(kdf == 1 && aead == 1 && configID == 7)
        #expect(enc == s.builder.encapsulatedKey && enc.count == 32)
        #expect(encoded == wrapped.encodedInner)
        #expect(try Self.reconstruct(encoded, outerSessionID: outer.sessionID) == Array(inner.dropFirst(4)),
                "the server rebuilds exactly the ClientHelloInner OpenSSL hashed")
    }

    @Test func aadIsTheOuterWithThePayloadZeroed() throws {
        let s = try Self.setup()
        let wrapped = try s.builder.wrap(innerMessage: Self.inner())
        let body = Array(wrapped.outer.dropFirst(4))
        #expect(wrapped.aad.count == body.count)
        let differing = (0..<body.count).filter { body[$0] != wrapped.aad[$0] }
        let ext = try #require(try ClientHello(body: body).findExtension(0xfe0d))
        let payloadLength = wrapped.encodedInner.count + 16
        #expect(differing.allSatisfy { $0 >= ext.bodyRange.upperBound - payloadLength && $0 < ext.bodyRange.upperBound })
        #expect(wrapped.aad[(ext.bodyRange.upperBound - payloadLength)..<ext.bodyRange.upperBound].allSatisfy { $0 == 0 })
        // A changed outer byte outside the payload (here the random) breaks the seal.
        var tampered = wrapped.outer
        tampered[4 + 2] ^= 1
        #expect(throws: HPKEError.openFailed) { _ = try Self.open(tampered, with: s) }
    }

    /// Section 6.1.3: max(0, L - D) for a name of D bytes, L + 9 without one, then a multiple of 32.
    @Test(arguments: [
        (200, 11, 0, 24),      // 200 -> 224
        (200, 11, 32, 24),     // +21 = 221 -> 224
        (210, 11, 32, 46),     // +21 = 231 -> 256
        (210, 11, 0, 14),      // 210 -> 224
        (200, 40, 32, 24),     // name longer than L: no name padding
        (200, nil, 32, 41 + 15), // +41 = 241 -> 256
        (224, 11, 0, 0),       // already a multiple of 32
        (225, 11, 0, 31),
    ] as [(Int, Int?, Int, Int)])
    func paddingLengths(unpadded: Int, name: Int?, maxName: Int, expected: Int) {
        let padding = ECHClientHelloBuilder.paddingLength(unpadded: unpadded, serverNameLength: name, maximumNameLength: maxName)
        #expect(padding == expected)
        #expect((unpadded + padding) % 32 == 0)
    }

    @Test(arguments: ["a.test", "origin.test", "a-much-longer-name.example.com"])
    func encodedInnerLengthHidesTheNameUpToMaximumNameLength(name: String) throws {
        let s = try Self.setup(maxName: 64)
        let wrapped = try s.builder.wrap(innerMessage: Self.inner(name: name))
        let reference = try Self.setup(maxName: 64).builder.wrap(innerMessage: Self.inner(name: "x.test"))
        #expect(wrapped.encodedInner.count % 32 == 0)
        #expect(wrapped.encodedInner.count == reference.encodedInner.count, "names up to 64 bytes give one length")
    }

    @Test func noServerNameGetsOneAndPadding() throws {
        let s = try Self.setup(maxName: 16)
        let wrapped = try s.builder.wrap(innerMessage: Self.inner(name: nil))
        let outer = try ClientHello(body: Array(wrapped.outer.dropFirst(4)))
        #expect(outer.serverName == "public.test")
        #expect(wrapped.encodedInner.count % 32 == 0)
    }

    @Test func pskBecomesGreaseOfTheSameShape() throws {
        let identity = [UInt8](repeating: 0xaa, count: 50)
        let binder = [UInt8](repeating: 0xbb, count: 32)
        let psk = Build.ext(41, Build.vec16(Build.vec16(identity) + [1, 2, 3, 4]) + Build.vec16(Build.vec8(binder)))
        let s = try Self.setup()
        let wrapped = try s.builder.wrap(innerMessage: Self.inner(extra: [Build.ext(45, [1, 1]), psk]))
        let outer = try ClientHello(body: Array(wrapped.outer.dropFirst(4)))
        #expect(outer.extensions.last?.type == 41, "pre_shared_key stays last")
        let grease = try #require(outer.findExtension(41)).data
        #expect(grease.count == Array(psk.dropFirst(4)).count)
        #expect(!Self.contains(grease, String(decoding: identity.prefix(8), as: UTF8.self)))
        #expect(Array(grease[4..<54]) != identity)
        #expect(outer.findExtension(45)?.data == [1, 1])
    }

    @Test func secondOuterAfterHelloRetryUsesTheSameContextAndNoEnc() throws {
        let s = try Self.setup()
        let first = try s.builder.wrap(innerMessage: Self.inner())
        // A HelloRetryRequest confirming ECH, built the way a backend server does (7.2.1).
        let hrr = try Self.helloRetryRequest(confirmingInner: Self.inner())
        #expect(try s.builder.check(serverHello: hrr) == .helloRetryAccepted)
        let second = try s.builder.wrap(innerMessage: Self.inner(extra: [Build.ext(44, Build.vec16([9, 9]))]))
        let (_, _, context) = try Self.open(first.outer, with: s)
        let (ech2, encoded2, _) = try Self.open(second.outer, with: s, context: context)
        guard case .outer(_, _, let configID, let enc, _) = ech2 else { throw ECHTestFailure("not outer") }
        #expect(enc.isEmpty && configID == 7)
        #expect(encoded2 == second.encodedInner)
        #expect(Array(second.outer[6..<38]) == Array(first.outer[6..<38]), "the second outer keeps the first's random")
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: Self.inner()) }
    }

    @Test func refusesInnersItMustNotWrap() throws {
        let s = try Self.setup()
        let noMarker = Build.message(1, Build.clientHello(extensions: [Build.sni("origin.test"), Build.versions([0x0304])]))
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: noMarker) }
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: Self.inner(versions: [0x0304, 0x0303])) }
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: Array(Self.inner().dropLast())) }
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: [2, 0, 0, 0]) }
        #expect(throws: ECHError.unexpected("a ServerHello before any ClientHello was wrapped")) {
            _ = try s.builder.check(serverHello: Build.message(2, Build.serverHello()))
        }
        _ = try s.builder.wrap(innerMessage: Self.inner())
        #expect(throws: ECHError.self) { _ = try s.builder.wrap(innerMessage: Self.inner()) }
    }

    // MARK: Helpers (a backend server's side of 7.2 / 7.2.1)

    static func serverHello(random: [UInt8], suite: UInt16 = 0x1301, extensions: [[UInt8]] = [Build.ext(43, [3, 4])]) -> [UInt8] {
        Build.message(2, Build.serverHello(random: random, suite: suite, extensions: extensions))
    }

    /// A HelloRetryRequest whose ECH extension carries hrr_accept_confirmation for `inner`.
    static func helloRetryRequest(confirmingInner inner: [UInt8], suite: UInt16 = 0x1301) throws -> [UInt8] {
        let zeroed = serverHello(random: ServerHello.helloRetryRequestRandom, suite: suite,
                                 extensions: [Build.ext(43, [3, 4]), Build.ext(51, [0, 0x17]), Build.ext(0xfe0d, [UInt8](repeating: 0, count: 8))])
        let range = zeroed.count - 8..<zeroed.count
        let confirmation = try ECHAcceptance.expectedHelloRetry(helloRetryRequest: zeroed, extensionRange: range,
                                                                clientHelloInner1: inner, cipherSuite: suite)
        return Array(zeroed.dropLast(8)) + confirmation
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        ECHEndToEndTests.contains(haystack, needle)
    }
}
