import Foundation
import Testing
import VeilRuntime
@testable import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// ECH against an independent server (BoringSSL's bssl-tool): OpenSSL (a TLSEngine) writes
/// the ClientHelloInner for origin.test, ECHRecordFilter wraps it into a ClientHelloOuter for
/// public.test and checks the server's acceptance signal, and the bytes go over a real TCP
/// connection. Skipped only when bssl-tool is missing.
@Suite(.serialized) struct ECHEndToEndTests {
    /// What one connection saw.
    struct Outcome {
        var verdicts: [ECHVerdict] = []
        var handshake: TLSEngine.Step = .needsInput
        var response = ""
        var wire: [UInt8] = []  // every byte sent to the server
        var outerHellos = 0
    }

    enum Mode {
        /// Offer ECH with this ECHConfigList; `stopOnRejection` false hands the server's
        /// answer to OpenSSL even after a rejection (to show that its handshake fails).
        case ech([UInt8], stopOnRejection: Bool)
        /// No config: a GREASE ECH extension, no wrapping.
        case grease
    }

    static func run(server: BoringSSLECHServer, mode: Mode) throws -> Outcome {
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = server.caPath
        let context = try TLSContext.upstream(options)
        try context.enableECHExtension()
        let engine = try TLSEngine(context: context, role: .client)
        try engine.configureClient(serverName: "origin.test", verifyName: "origin.test", alpn: ["http/1.1"], session: nil)
        let filter: ECHRecordFilter?
        var stopOnRejection = true
        switch mode {
        case .ech(let list, let stop):
            try engine.offerECHInner()
            filter = ECHRecordFilter(builder: try ECHClientHelloBuilder(selection: try ECHConfigList.parse(list).selection()))
            stopOnRejection = stop
        case .grease:
            engine.offerECHGrease(try ECHGrease.extensionData(serverName: "origin.test", alpn: ["http/1.1"]))
            filter = nil
        }

        let fd = try BoringSSLECHServer.connect(port: server.port)
        defer { close(fd) }
        var outcome = Outcome()
        func flush() throws {
            guard engine.outbound.readable > 0 else { return }
            let written = Array(UnsafeRawBufferPointer(start: engine.outbound.readPointer, count: engine.outbound.readable))
            engine.outbound.consume(written.count)
            let wire = try filter?.outbound(written) ?? written
            outcome.wire += wire
            guard !wire.isEmpty else { return }
            let sent = wire.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent == wire.count else { throw ECHTestFailure("short send") }
        }
        func receive() throws -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? Array(buffer[0..<n]) : nil
        }
        var engineInput: [UInt8] = []
        handshake: for _ in 0..<50 {
            outcome.handshake = engine.handshake()
            try flush()
            switch outcome.handshake {
            case .complete, .failed: break handshake
            case .needsInput: break
            }
            guard let bytes = try receive() else { break }
            if let verdict = try filter?.inbound(bytes) {
                outcome.verdicts.append(verdict)
                if case .rejected = verdict, stopOnRejection {  // never go on with the outer handshake
                    outcome.outerHellos = filter?.builder.innerHellos.count ?? 0
                    return outcome
                }
            }
            engineInput += bytes
            let n = engine.inbound.append(engineInput)
            engineInput.removeFirst(n)
        }
        outcome.outerHellos = filter?.builder.innerHellos.count ?? 0
        guard outcome.handshake == .complete else { return outcome }
        let request = Array("GET / HTTP/1.0\r\nHost: origin.test\r\n\r\n".utf8)
        #expect(engine.write(request, count: request.count) == request.count)
        try flush()
        var plain = [UInt8](repeating: 0, count: 16384)
        reading: for _ in 0..<50 {
            draining: while true {
                switch engine.read(into: &plain, max: plain.count) {
                case .data(let n): outcome.response += String(decoding: plain[0..<n], as: UTF8.self)
                case .needsInput: break draining
                case .closed, .failed: break reading
                }
            }
            try flush()
            guard let bytes = try receive() else { break }
            _ = engine.inbound.append(bytes)
        }
        return outcome
    }

    @Test(.enabled(if: BoringSSLECHServer.available, "\(BoringSSLECHServer.unavailableReason)"))
    func acceptedByBoringSSL() throws {
        let server = try BoringSSLECHServer()
        defer { server.stop() }
        let outcome = try Self.run(server: server, mode: .ech(server.configList, stopOnRejection: true))
        #expect(outcome.verdicts == [.accepted])
        #expect(outcome.outerHellos == 1)
        #expect(outcome.handshake == .complete, "server log: \(server.serverLog)")
        #expect(outcome.response.contains("Encrypted ClientHello: yes"), "response: \(outcome.response)")
        #expect(outcome.response.contains("Client sent SNI: origin.test"), "response: \(outcome.response)")
        #expect(Self.contains(outcome.wire, "public.test"))
        #expect(!Self.contains(outcome.wire, "origin.test"), "the real name went out in clear")
    }

    /// The server (P-256 only) answers OpenSSL's X25519 key share with a HelloRetryRequest that
    /// confirms ECH (RFC 9849 section 7.2.1); the second ClientHelloInner is wrapped with the
    /// same HPKE context and the ServerHello confirms over the message_hash transcript.
    @Test(.enabled(if: BoringSSLECHServer.available, "\(BoringSSLECHServer.unavailableReason)"))
    func acceptedAfterHelloRetryRequest() throws {
        let server = try BoringSSLECHServer(curves: "P-256")
        defer { server.stop() }
        let outcome = try Self.run(server: server, mode: .ech(server.configList, stopOnRejection: true))
        #expect(outcome.verdicts == [.helloRetryAccepted, .accepted])
        #expect(outcome.outerHellos == 2)
        #expect(outcome.handshake == .complete, "server log: \(server.serverLog)")
        #expect(outcome.response.contains("Encrypted ClientHello: yes"), "response: \(outcome.response)")
        #expect(outcome.response.contains("ECDHE curve: P-256"), "response: \(outcome.response)")
        #expect(outcome.response.contains("Client sent SNI: origin.test"), "response: \(outcome.response)")
        #expect(!Self.contains(outcome.wire, "origin.test"), "the real name went out in clear")
    }

    /// The server holds another ECH key (the client's config is stale): it continues with the
    /// outer hello, the ServerHello carries no confirmation, the verdict is `.rejected`, and
    /// OpenSSL (given the server's answer anyway) cannot complete the handshake, whose
    /// transcript is the inner one. The real name is in no byte sent.
    @Test(.enabled(if: BoringSSLECHServer.available, "\(BoringSSLECHServer.unavailableReason)"))
    func rejectedWhenTheServerHasAnotherKey() throws {
        let server = try BoringSSLECHServer(otherKey: true)
        defer { server.stop() }
        let outcome = try Self.run(server: server, mode: .ech(server.configList, stopOnRejection: false))
        guard case .rejected(let reason) = outcome.verdicts.first else {
            Issue.record("expected a rejection, got \(outcome.verdicts)")
            return
        }
        #expect(reason.contains("does not confirm ECH"))
        guard case .failed = outcome.handshake else {
            Issue.record("OpenSSL completed a handshake ECH did not confirm: \(outcome.handshake)")
            return
        }
        #expect(outcome.response.isEmpty)
        #expect(Self.contains(outcome.wire, "public.test"))
        #expect(!Self.contains(outcome.wire, "origin.test"), "the real name went out in clear")
    }

    /// GREASE ECH (RFC 9849 section 6.2) to a server that has ECH keys: it cannot decrypt the
    /// extension, goes on with the ClientHello as is (real SNI, no ECH), and sends retry_configs
    /// in EncryptedExtensions, which OpenSSL's custom extension accepts after checking it parses.
    @Test(.enabled(if: BoringSSLECHServer.available, "\(BoringSSLECHServer.unavailableReason)"))
    func greaseCompletesWithoutECH() throws {
        let server = try BoringSSLECHServer()
        defer { server.stop() }
        let outcome = try Self.run(server: server, mode: .grease)
        #expect(outcome.handshake == .complete, "server log: \(server.serverLog)")
        #expect(outcome.response.contains("Encrypted ClientHello: no"), "response: \(outcome.response)")
        #expect(outcome.response.contains("Client sent SNI: origin.test"), "response: \(outcome.response)")
    }

    /// GREASE after a HelloRetryRequest: OpenSSL repeats the same extension in the second
    /// ClientHello, and the server's 0xfe0d in the HelloRetryRequest (if any) is accepted.
    @Test(.enabled(if: BoringSSLECHServer.available, "\(BoringSSLECHServer.unavailableReason)"))
    func greaseSurvivesHelloRetryRequest() throws {
        let server = try BoringSSLECHServer(curves: "P-256")
        defer { server.stop() }
        let outcome = try Self.run(server: server, mode: .grease)
        #expect(outcome.handshake == .complete, "server log: \(server.serverLog)")
        #expect(outcome.response.contains("ECDHE curve: P-256"), "response: \(outcome.response)")
        #expect(outcome.response.contains("Encrypted ClientHello: no"), "response: \(outcome.response)")
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard haystack.count >= n.count else { return false }
        return (0...haystack.count - n.count).contains { Array(haystack[$0..<$0 + n.count]) == n }
    }
}
