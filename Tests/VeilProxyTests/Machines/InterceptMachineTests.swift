import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// InterceptMachine's paths: both handshakes in memory against a real OpenSSL browser and
/// origin, the certificate early or late, sessions offered and refused, the record log.
@Suite("InterceptMachine: ClientHello -> upstream -> certificate -> client -> handed over")
struct InterceptMachineTests {
    typealias H = InterceptHarness

    @Test func bothHandshakesThenTheLegsAreHandedOver() throws {
        let h = try H()
        h.start()
        #expect(h.stateName == "clientHello")
        #expect(h.deadline == h.now + 15 * H.second)
        #expect(h.receiving[.client] == .max, "no kTLS to follow: as much as fits")
        try h.run()
        #expect(h.closed == nil)
        #expect(h.handover == "relay")
        #expect(h.stateName == "handedOver")
        #expect(h.browser.isHandshakeComplete)
        #expect(h.notes.contains(.sni("site.test")))
        #expect(h.notes.contains(.upstreamSNI("site.test")))
        let upstream = h.notes.compactMap { note -> String? in
            if case .upstreamHandshake(let v, let c, _, let resumed, _) = note { return "\(v ?? "-") \(c ?? "-") \(resumed)" }
            return nil
        }
        #expect(upstream == ["TLSv1.3 TLS_AES_256_GCM_SHA384 false"] || upstream.first?.hasPrefix("TLSv1.3") == true)
        #expect(h.notes.contains { if case .clientHandshake(version: "TLSv1.3", _, resumed: false) = $0 { true } else { false } })
        // What was sent is counted per side.
        let sent = h.notes.reduce(into: [TransferSide: Int]()) { t, n in if case .sent(let s, let c) = n { t[s, default: 0] += c } }
        #expect((sent[.client] ?? 0) > 0 && (sent[.upstream] ?? 0) > 0)
        // Events after the hand-over do nothing.
        #expect(h.on(.deadlinePassed(now: h.now + 100 * H.second)).isEmpty)
        #expect(h.on(.received(.client, result: 0, now: h.now)).isEmpty)
    }

    @Test func aCertificateLaterThanTheUpstreamHandshakeIsWaitedFor() throws {
        let h = try H()
        h.start()
        try h.run(deliverCertificates: false)
        #expect(h.stateName == "awaitingCertificate")
        #expect(h.certificateAsked == "site.test")
        #expect(!h.handedOver)
        // A deadline before the handshake timeout only re-arms it.
        #expect(h.on(.deadlinePassed(now: h.now + H.second)) == ["deadline"])
        try h.deliverCertificate()
        #expect(h.stateName == "clientHandshake")
        try h.run()
        #expect(h.handedOver)
    }

    @Test func aCertificateBeforeTheUpstreamHandshakeEndsIsKept() throws {
        let h = try H()
        h.start()
        // The ClientHello: the certificate is asked for and the upstream handshake starts.
        _ = h.browser.handshake()
        h.completeReceive(.client)
        h.completeReceive(.client)
        #expect(h.stateName == "upstreamHandshake")
        try h.deliverCertificate()
        #expect(h.stateName == "upstreamHandshake")
        try h.run(deliverCertificates: false)
        #expect(h.handedOver)
    }

    @Test func aClientHelloSentWithTheRequestIsTakenFromIt() throws {
        let h = try H()
        _ = h.browser.handshake()
        let hello = Array(UnsafeRawBufferPointer(start: h.browser.outbound.readPointer, count: h.browser.outbound.readable))
        h.browser.outbound.consume(hello.count)
        h.start(pipelined: hello)
        #expect(h.stateName == "upstreamHandshake")
        #expect(h.certificateAsked == "site.test")
        #expect(h.receiving[.client] == nil)
        try h.run()
        #expect(h.handedOver)
    }

    @Test func withKernelTLSToFollowReadsStopAtRecordBoundaries() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.start()
        #expect(h.receiving[.client] == 5, "a record header first")
        _ = h.browser.handshake()
        h.completeReceive(.client)
        #expect((h.receiving[.client] ?? 0) > 5 && (h.receiving[.client] ?? 0) < 1000, "then exactly the record's body")
    }

    @Test func noSNIFromTheClientMintsForTheConnectHost() throws {
        let h = try H(sni: nil)
        h.start()
        try h.run()
        #expect(h.notes.contains(.sni(nil)))
        #expect(h.handedOver)
    }

    @Test func theSNIPolicyNamesWhatGoesUpstream() throws {
        let h = try H(try H.settings(sniPolicy: .omit))
        h.start()
        try h.run()
        #expect(h.notes.contains(.upstreamSNI("-")))
        #expect(h.handedOver)
    }

    @Test func aCachedSessionIsOfferedAndResumed() throws {
        let sessions = SessionCache()
        let first = try H(try H.settings(sessions: sessions))
        first.start()
        try first.run()
        #expect(first.handedOver)
        // The origin's tickets come after the handshake: through the upstream engine (the relay).
        _ = first.origin.handshake()
        _ = first.upstream.engine.inbound.append(first.origin.outbound.readPointer, count: first.origin.outbound.readable)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 16)
        defer { scratch.deallocate() }
        _ = first.upstream.engine.read(into: scratch, max: 16 << 10)
        #expect(first.upstream.tickets > 0, "OpenSSL's new-session callback counted")

        let second = try H(try H.settings(sessions: sessions))
        second.start()
        try second.run()
        #expect(second.handedOver)
        #expect(second.notes.contains { if case .upstreamHandshake(_, _, _, resumed: true, _) = $0 { true } else { false } })
    }

    @Test func aRefusedTicketIsNoLongerOffered() throws {
        let sessions = SessionCache()
        let first = try H(try H.settings(sessions: sessions))
        first.start()
        try first.run()
        _ = first.origin.handshake()
        _ = first.upstream.engine.inbound.append(first.origin.outbound.readPointer, count: first.origin.outbound.readable)
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 16)
        defer { scratch.deallocate() }
        _ = first.upstream.engine.read(into: scratch, max: 16 << 10)
        let key = "site.test:443|real"
        #expect(sessions.count == 1, "\(key) cached")
        // Another origin (a fresh server context: it cannot decrypt the ticket) refuses it.
        let f = try H.fixture.get()
        let second = try H(try H.settings(sessions: sessions))
        let other = try TLSEngine(context: try TLSContext.clientFacing(), role: .server)
        try other.configureServer(certificate: try f.minter.certificate(for: "site.test"), minter: f.minter, alpn: nil)
        second.origin = other
        second.start()
        try second.run()
        #expect(second.handedOver, "\(second.stateName) \(second.closeLine ?? "")")
        #expect(second.notes.contains { if case .upstreamHandshake(_, _, _, resumed: false, _) = $0 { true } else { false } })
        #expect(sessions.count == 0, "\(key) forgotten")
    }

    @Test func theRecordLogSeesEveryRecordBothWays() throws {
        let h = try H(try H.settings(logRecords: true))
        h.start()
        try h.run()
        #expect(h.handedOver)
        #expect(h.logged.contains { $0.hasPrefix("client->proxy") })
        #expect(h.logged.contains { $0.hasPrefix("proxy->upstream") })
        #expect(h.logged.contains { $0.hasPrefix("upstream->proxy") })
        #expect(h.logged.contains { $0.hasPrefix("proxy->client") })
    }
}
