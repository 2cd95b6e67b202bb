import Testing
import VeilRuntime
@testable import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Two engines talking to each other through their buffers: Veil's client-facing side (with a
/// minted certificate) and Veil's upstream side (verifying against the test CA). No sockets.
@Suite struct TLSEngineTests {
    struct Pair {
        let client: TLSEngine
        let server: TLSEngine
    }

    static func makeCA() throws -> (CertificateAuthority, CertificateMinter, String) {
        var template = Array("/tmp/veil-engine-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        let ca = try CertificateAuthority.loadOrCreate(home: dir + "/home")
        return (ca, try CertificateMinter(authority: ca), dir)
    }

    /// Moves bytes both ways until neither side has output left.
    static func shuttle(_ a: TLSEngine, _ b: TLSEngine) {
        var moved = true
        while moved {
            moved = false
            for (from, to) in [(a, b), (b, a)] where from.outbound.readable > 0 {
                let n = to.inbound.append(from.outbound.readPointer, count: from.outbound.readable)
                from.outbound.consume(n)
                moved = moved || n > 0
            }
        }
    }

    static func handshake(_ client: TLSEngine, _ server: TLSEngine) -> (TLSEngine.Step, TLSEngine.Step) {
        var c = TLSEngine.Step.needsInput
        var s = TLSEngine.Step.needsInput
        for _ in 0..<20 {
            if c != .complete { c = client.handshake() }
            shuttle(client, server)
            if s != .complete { s = server.handshake() }
            shuttle(client, server)
            if case .failed = c { break }
            if case .failed = s { break }
            if c == .complete && s == .complete { break }
        }
        return (c, s)
    }

    func connect(name: String, verifyName: String, alpnOffer: [String] = [], alpnChoice: String? = nil,
                 session: OpaquePointer? = nil, minVersion: UInt16 = 0x0303) throws -> (Pair, TLSEngine.Step, TLSEngine.Step) {
        let (ca, minter, _) = try TLSEngineTests.makeCA()
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        options.minVersion = minVersion
        let upstream = try TLSContext.upstream(options)
        let facing = try TLSContext.clientFacing()
        let client = try TLSEngine(context: upstream, role: .client)
        let server = try TLSEngine(context: facing, role: .server)
        try client.configureClient(serverName: name, verifyName: verifyName, alpn: alpnOffer, session: session)
        try server.configureServer(certificate: try minter.certificate(for: name), minter: minter, alpn: alpnChoice)
        let (c, s) = TLSEngineTests.handshake(client, server)
        return (Pair(client: client, server: server), c, s)
    }

    @Test func handshakeVerifiesAndMirrorsALPN() throws {
        let (pair, c, s) = try connect(name: "site.test", verifyName: "site.test",
                                       alpnOffer: ["h2", "http/1.1"], alpnChoice: "h2")
        #expect(c == .complete)
        #expect(s == .complete)
        #expect(pair.client.version == "TLSv1.3")
        #expect(pair.client.alpn == "h2")
        #expect(pair.server.alpn == "h2")
        #expect(pair.client.cipher?.hasPrefix("TLS_") == true)
        #expect(pair.client.isResumed == false)
    }

    @Test func noALPNWhenUpstreamChoseNone() throws {
        let (pair, c, _) = try connect(name: "site.test", verifyName: "site.test", alpnOffer: ["h2"], alpnChoice: nil)
        #expect(c == .complete)
        #expect(pair.client.alpn == nil)
    }

    @Test func wrongNameFailsVerification() throws {
        let (pair, c, _) = try connect(name: "site.test", verifyName: "other.test")
        guard case .failed(let reason) = c else {
            Issue.record("handshake should fail, got \(c)")
            return
        }
        #expect(reason == .certificate("hostname mismatch"))
        #expect("\(reason)" == "certificate: hostname mismatch")
        #expect(pair.client.verifyFailure == "hostname mismatch")
    }

    @Test func ipTargetsVerifyAgainstIPSAN() throws {
        let (_, c, _) = try connect(name: "127.0.0.1", verifyName: "127.0.0.1")
        #expect(c == .complete)
    }

    @Test func applicationDataBothWaysAndCloseNotify() throws {
        let (pair, c, s) = try connect(name: "site.test", verifyName: "site.test")
        #expect(c == .complete && s == .complete)
        let message = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        #expect(pair.client.write(message, count: message.count) == message.count)
        TLSEngineTests.shuttle(pair.client, pair.server)
        var buffer = [UInt8](repeating: 0, count: 64)
        var got: [UInt8] = []
        // The server may first process the client's post-handshake messages.
        for _ in 0..<4 {
            if case .data(let n) = pair.server.read(into: &buffer, max: 64) { got += buffer[0..<n] }
            if got.count == message.count { break }
        }
        #expect(got == message)
        pair.client.close()
        TLSEngineTests.shuttle(pair.client, pair.server)
        #expect(pair.server.read(into: &buffer, max: 64) == .closed)
    }

    @Test func keyLogLinesAreNSSFormat() throws {
        let (ca, minter, _) = try TLSEngineTests.makeCA()
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        let client = try TLSEngine(context: try TLSContext.upstream(options), role: .client)
        let server = try TLSEngine(context: try TLSContext.clientFacing(), role: .server)
        var lines: [String] = []
        client.onKeyLog = { lines.append($0) }
        try client.configureClient(serverName: "site.test", verifyName: "site.test", alpn: [], session: nil)
        try server.configureServer(certificate: try minter.certificate(for: "site.test"), minter: minter, alpn: nil)
        _ = TLSEngineTests.handshake(client, server)
        let labels = Set(lines.compactMap { $0.split(separator: " ").first.map(String.init) })
        #expect(labels.isSuperset(of: ["CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                                       "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0"]))
        #expect(lines.allSatisfy { $0.split(separator: " ").count == 3 })
    }
}
