import Testing
@testable import VeilTLS
import COpenSSL

/// A minted certificate that keeps being used gets a decoded copy (which carries its DER, so
/// OpenSSL stops re-encoding it per handshake): the same certificate, and handshakes still work.
@Suite struct MintedCertificateDecodeTests {
    static func der(_ x509: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(x509, nil)
        var bytes = [UInt8](repeating: 0, count: Int(max(length, 0)))
        bytes.withUnsafeMutableBufferPointer { buffer in
            var out: UnsafeMutablePointer<UInt8>? = buffer.baseAddress
            _ = i2d_X509(x509, &out)
        }
        return bytes
    }

    @Test func decodedCopyIsTheSameCertificate() throws {
        let (_, minter, _) = try TLSEngineTests.makeCA()
        let c = try minter.certificate(for: "decode.test")
        #expect(c.x509ForHandshake == c.x509, "the minted leaf until the copy exists")
        c.makeDecodedCopy()
        let decoded = c.x509ForHandshake
        #expect(decoded != c.x509)
        #expect(Self.der(decoded) == Self.der(c.x509))
        c.makeDecodedCopy()  // a second copy is dropped, the first stays
        #expect(c.x509ForHandshake == decoded)
    }

    @Test func handshakeWithTheDecodedCopy() throws {
        let (ca, minter, _) = try TLSEngineTests.makeCA()
        let c = try minter.certificate(for: "decode.test")
        c.makeDecodedCopy()
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        let client = try TLSEngine(context: try TLSContext.upstream(options), role: .client)
        let server = try TLSEngine(context: try TLSContext.clientFacing(), role: .server)
        try client.configureClient(serverName: "decode.test", verifyName: "decode.test", alpn: [], session: nil)
        try server.configureServer(certificate: c, minter: minter, alpn: nil)
        let (cs, ss) = TLSEngineTests.handshake(client, server)
        #expect(cs == .complete && ss == .complete)
        #expect(client.verifyFailure == nil)
    }
}
