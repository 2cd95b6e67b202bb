import Testing
@testable import VeilTLS

/// RFC 9849 section 6.1.4, 7.2 and 7.2.1 on synthetic server answers. (The computation itself
/// is checked against an independent implementation by ECHEndToEndTests: BoringSSL's server
/// confirms, Veil recognises it.)
@Suite struct ECHAcceptanceTests {
    typealias B = ECHClientHelloBuilderTests

    /// A ServerHello that confirms ECH for `transcriptBefore`, as a backend server makes it.
    static func confirmingServerHello(transcriptBefore: [UInt8], inner: [UInt8], suite: UInt16 = 0x1301) throws -> [UInt8] {
        let zeroed = B.serverHello(random: [UInt8](repeating: 0x42, count: 24) + [UInt8](repeating: 0, count: 8), suite: suite)
        let confirmation = try ECHAcceptance.expected(serverHello: zeroed, transcriptBefore: transcriptBefore,
                                                      innerRandom: Array(inner[6..<38]), cipherSuite: suite)
        var hello = zeroed
        hello.replaceSubrange(30..<38, with: confirmation)
        return hello
    }

    @Test(arguments: [UInt16(0x1301), 0x1302, 0x1303])
    func confirmedServerHelloIsAcceptedAndAnyChangeRejects(suite: UInt16) throws {
        let inner = B.inner()
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: inner)
        let hello = try Self.confirmingServerHello(transcriptBefore: inner, inner: inner, suite: suite)
        #expect(try s.builder.check(serverHello: hello) == .accepted)
        #expect(ECHAcceptance.signal(serverHello: hello).count == 8)
        for position in [6, 30, 37, hello.count - 1] {
            var changed = hello
            changed[position] ^= 0x01
            guard case .rejected = try s.builder.check(serverHello: changed) else {
                Issue.record("a ServerHello changed at \(position) still confirms")
                continue
            }
        }
    }

    @Test func theHashFollowsTheCipherSuite() throws {
        let inner = B.inner()
        let sha256 = try Self.confirmingServerHello(transcriptBefore: inner, inner: inner, suite: 0x1301)
        var asSHA384 = sha256
        asSHA384[4 + 2 + 32 + 1] = 0x13; asSHA384[4 + 2 + 32 + 2] = 0x02
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: inner)
        guard case .rejected = try s.builder.check(serverHello: asSHA384) else {
            Issue.record("a SHA-256 confirmation passed for TLS_AES_256_GCM_SHA384")
            return
        }
    }

    @Test func tls12ServerHelloIsARejection() throws {
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: B.inner())
        let hello = B.serverHello(random: [UInt8](repeating: 1, count: 32), extensions: [])
        #expect(try s.builder.check(serverHello: hello) == .rejected("the server negotiated TLSv1.2 (ECH needs TLS 1.3)"))
    }

    @Test func helloRetryRequestThenServerHelloOverTheMessageHashTranscript() throws {
        let inner1 = B.inner()
        let inner2 = B.inner(extra: [Build.ext(44, Build.vec16([7]))])
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: inner1)
        let hrr = try B.helloRetryRequest(confirmingInner: inner1)
        #expect(try s.builder.check(serverHello: hrr) == .helloRetryAccepted)
        _ = try s.builder.wrap(innerMessage: inner2)
        let hash = ECHAcceptance.Hash(cipherSuite: 0x1301)
        let transcript = try ECHAcceptance.messageHash(inner1, hash: hash) + hrr + inner2
        #expect(transcript.prefix(4) == [254, 0, 0, 32])
        let hello = try Self.confirmingServerHello(transcriptBefore: transcript, inner: inner1)
        #expect(try s.builder.check(serverHello: hello) == .accepted)
        // Confirmed over the first ClientHello only (no HRR in the transcript): a server that
        // accepted in the HelloRetryRequest and not in the ServerHello is an error (6.1.5).
        let wrong = try Self.confirmingServerHello(transcriptBefore: inner1, inner: inner1)
        #expect(throws: ECHError.self) { _ = try s.builder.check(serverHello: wrong) }
    }

    @Test func helloRetryRequestWithoutOrWithBadConfirmation() throws {
        let inner = B.inner()
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: inner)
        let none = B.serverHello(random: ServerHello.helloRetryRequestRandom, extensions: [Build.ext(43, [3, 4]), Build.ext(51, [0, 0x17])])
        #expect(try s.builder.check(serverHello: none) == .rejected("the HelloRetryRequest has no encrypted_client_hello confirmation"))
        let short = B.serverHello(random: ServerHello.helloRetryRequestRandom, extensions: [Build.ext(43, [3, 4]), Build.ext(0xfe0d, [1, 2, 3])])
        #expect(throws: ECHError.self) { _ = try s.builder.check(serverHello: short) }
        var wrong = try B.helloRetryRequest(confirmingInner: inner)
        wrong[wrong.count - 1] ^= 0x80
        guard case .rejected = try s.builder.check(serverHello: wrong) else {
            Issue.record("a wrong HRR confirmation was accepted")
            return
        }
    }

    @Test func garbageAnswersAreErrorsNotTraps() throws {
        let s = try B.setup()
        _ = try s.builder.wrap(innerMessage: B.inner())
        for bad in [[], [2], [2, 0, 0, 1, 3], [1, 0, 0, 0], Array(B.serverHello(random: [UInt8](repeating: 0, count: 32)).prefix(20))] as [[UInt8]] {
            #expect(throws: ECHError.self) { _ = try s.builder.check(serverHello: bad) }
        }
    }
}
