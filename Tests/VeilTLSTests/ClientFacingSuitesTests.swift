import COpenSSL
import Testing
@testable import VeilTLS

/// What the client-facing context (minted certificates, the HTTPS listener, the relay) offers:
/// TLS 1.3 suites and, for TLS 1.2, ECDHE with an AEAD only (no CBC: LUCKY13).
@Suite struct ClientFacingSuitesTests {
    static func suites(_ context: TLSContext) -> [String] {
        guard let ssl = SSL_new(context.ctx) else { return [] }
        defer { SSL_free(ssl) }
        var names: [String] = []
        var i: Int32 = 0
        while let name = SSL_get_cipher_list(ssl, i) {
            names.append(String(cString: name))
            i += 1
        }
        return names
    }

    @Test func onlyAEADSuitesTowardsClients() throws {
        let names = ClientFacingSuitesTests.suites(try TLSContext.clientFacing())
        let tls12 = names.filter { !$0.hasPrefix("TLS_") }
        #expect(!tls12.isEmpty)
        for name in tls12 {
            #expect(name.hasPrefix("ECDHE-") && (name.contains("-GCM-") || name.contains("CHACHA20-POLY1305")),
                    "client-facing TLS 1.2 suite \(name) is not ECDHE with an AEAD")
        }
        #expect(tls12.contains("ECDHE-ECDSA-AES128-GCM-SHA256"))
        #expect(tls12.contains("ECDHE-ECDSA-CHACHA20-POLY1305"))
        #expect(names.contains("TLS_AES_128_GCM_SHA256"))
    }
}
