import Testing
import VeilRuntime
@testable import VeilTLS

/// The keys and sequence numbers Veil would install in the kernel must decrypt the very next
/// record each side writes: a wrong key, IV or sequence number fails here, without a kTLS kernel.
@Suite struct KernelTLSKeysTests {
    struct Case: CustomStringConvertible, Sendable {
        let name: String
        let tls13: String?
        let tls12: String?
        let maxVersion: UInt16?
        var description: String { name }
    }

    static let cases: [Case] = [
        Case(name: "TLS1.3 AES-128-GCM", tls13: "TLS_AES_128_GCM_SHA256", tls12: nil, maxVersion: nil),
        Case(name: "TLS1.3 AES-256-GCM", tls13: "TLS_AES_256_GCM_SHA384", tls12: nil, maxVersion: nil),
        Case(name: "TLS1.3 ChaCha20-Poly1305", tls13: "TLS_CHACHA20_POLY1305_SHA256", tls12: nil, maxVersion: nil),
        Case(name: "TLS1.2 AES-128-GCM", tls13: nil, tls12: "ECDHE-ECDSA-AES128-GCM-SHA256", maxVersion: 0x0303),
        Case(name: "TLS1.2 AES-256-GCM", tls13: nil, tls12: "ECDHE-ECDSA-AES256-GCM-SHA384", maxVersion: 0x0303),
        Case(name: "TLS1.2 ChaCha20-Poly1305", tls13: nil, tls12: "ECDHE-ECDSA-CHACHA20-POLY1305", maxVersion: 0x0303),
    ]

    /// Takes the one record `engine` just wrote.
    static func takeRecord(_ engine: TLSEngine) -> [UInt8] {
        let bytes = Array(UnsafeRawBufferPointer(start: engine.outbound.readPointer, count: engine.outbound.readable))
        engine.outbound.consume(bytes.count)
        return bytes
    }

    /// A finished in-memory handshake for `c`; the client has then read what came after it
    /// (TLS 1.3 session tickets), so its receive sequence number has moved past them.
    static func session(_ c: Case) throws -> (client: TLSEngine, server: TLSEngine) {
        let (ca, minter, _) = try TLSEngineTests.makeCA()
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        let client = try TLSEngine(context: try TLSContext.upstream(options), role: .client)
        let server = try TLSEngine(context: try TLSContext.clientFacing(), role: .server)
        client.restrict(tls13Suites: c.tls13, tls12Ciphers: c.tls12, maxVersion: c.maxVersion)
        try client.configureClient(serverName: "site.test", verifyName: "site.test", alpn: [], session: nil)
        try server.configureServer(certificate: try minter.certificate(for: "site.test"), minter: minter, alpn: nil)
        let (cs, ss) = TLSEngineTests.handshake(client, server)
        #expect(cs == .complete && ss == .complete)
        var scratch = [UInt8](repeating: 0, count: 64)
        #expect(client.read(into: &scratch, max: 64) == .needsInput)
        return (client, server)
    }

    @Test(arguments: cases)
    func derivedKeysOpenTheNextRecords(_ c: Case) throws {
        let (client, server) = try KernelTLSKeysTests.session(c)

        guard case .keys(let ctx, let crx) = client.kernelKeys(), case .keys(let stx, let srx) = server.kernelKeys() else {
            Issue.record("kernel keys unavailable: \(client.kernelKeys()) / \(server.kernelKeys())")
            return
        }
        #expect(ctx.key == srx.key && ctx.sequence == srx.sequence)
        #expect(stx.key == crx.key && stx.sequence == crx.sequence)
        if c.maxVersion == nil {
            #expect(stx.sequence == 1, "a TLS 1.3 server has sent its one session ticket")
            #expect(ctx.sequence == 0)
        } else {
            #expect(ctx.sequence == 1 && stx.sequence == 1, "TLS 1.2: each side's Finished was record 0")
        }

        let request = Array("GET /kernel HTTP/1.1\r\n\r\n".utf8)
        #expect(client.write(request, count: request.count) == request.count)
        let fromClient = try #require(ctx.openRecord(KernelTLSKeysTests.takeRecord(client)))
        #expect(Array(fromClient.prefix(request.count)) == request)

        let response = Array("HTTP/1.1 204 No Content\r\n\r\n".utf8)
        #expect(server.write(response, count: response.count) == response.count)
        let record = KernelTLSKeysTests.takeRecord(server)
        // Off by one record, the same keys must not open it: the check can fail.
        let offByOne = KernelTLSKeys(version: stx.version, cipher: stx.cipher, key: stx.key, iv: stx.iv,
                                     sequence: stx.sequence + 1)
        #expect(offByOne.openRecord(record) == nil)
        let fromServer = try #require(stx.openRecord(record))
        #expect(Array(fromServer.prefix(response.count)) == response)
    }
}
