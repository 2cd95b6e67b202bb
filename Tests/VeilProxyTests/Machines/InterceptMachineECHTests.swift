import Foundation
import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy

/// The upstream leg's ECH in the intercept machine, against a real OpenSSL 3.0 origin (which
/// knows no ECH: it goes on with the ClientHelloOuter, so ECH is rejected) and with GREASE.
/// The accepting server (BoringSSL) is in VeilTLSTests' ECHEndToEndTests and integration t72.
@Suite("InterceptMachine: Encrypted Client Hello upstream")
struct InterceptMachineECHTests {
    typealias H = InterceptHarness
    /// An ECHConfigList (public name public.test, config id 7).
    static func selection() throws -> ECHConfigList.Selection {
        try ECHConfigList.parse(Array(Data(base64Encoded:
            "AEL+DQA+BwAgACBArj3s8FFViAvC6ZRlBYf+hjgVJXZgUgR8yu6myl+gCwAIAAEAAQABAAMAC3B1YmxpYy50ZXN0AAA=") ?? Data())).selection()
    }

    @Test func aServerWithoutECHRejectsItTheClientIsRefusedAndTheDNSConfigIsDropped() throws {
        let h = try H(try H.settings(ech: .config(try Self.selection(), source: "doh https://127.0.0.1/dns-query")))
        h.start()
        try h.run()
        // A config from DNS: dropped, and one reconnect with a fresh one is asked for.
        #expect(h.retries == ["site.test:443"])
        #expect(h.refusal == nil && h.closed == nil)
        // The fresh lookup has no usable config: refused, never retried in clear.
        h.on(.upstreamRetried(nil, nil, failure: "the fresh lookup has no usable ECH config (no HTTPS record)", now: h.now))
        #expect(h.refusal == TLSAlert.fatal(TLSAlert.Code.handshakeFailure))
        #expect(!h.origin.isHandshakeComplete && !h.browser.isHandshakeComplete)
        h.on(.refusalSent)
        #expect(h.closed?.kind == .echRejected)
        #expect(h.closed?.reason.contains("the real name was not sent in clear") == true)
        #expect(h.closed?.reason.contains("cached HTTPS record was dropped") == true)
        #expect(h.closed?.reason.contains("no retry: the fresh lookup has no usable ECH config") == true)
        #expect(h.forgotten == ["site.test"])
        #expect(h.notes.contains(.ech("offered", outerSNI: "public.test")))
        #expect(h.notes.contains(.ech("rejected", outerSNI: "public.test")))
        #expect(h.notes.contains(.upstreamSNI("site.test")), "the inner hello names the real target")
    }

    @Test func theRetryWithAFreshConfigIsRejectedAgainAndThenRefused() throws {
        let h = try H(try H.settings(ech: .config(try Self.selection(), source: "doh https://127.0.0.1/dns-query")))
        h.start()
        try h.run()
        #expect(h.retries.count == 1)
        // The owner reconnects: a new upstream leg and engine against a fresh origin session.
        let f = try H.fixture.get()
        let engine = try TLSEngine(context: f.upstream, role: .client)
        let leg = TLSLeg(.upstream, engine: engine, logAll: false)
        h.origin = try TLSEngine(context: f.origin, role: .server)
        try h.origin.configureServer(certificate: try f.minter.certificate(for: "site.test"), minter: f.minter, alpn: nil)
        h.upstream = leg
        h.on(.upstreamRetried(leg, .config(try Self.selection(), source: "doh https://127.0.0.1/dns-query"), failure: nil, now: h.now))
        #expect(h.notes.contains(.echRetried))
        try h.run()
        #expect(h.retries.count == 1, "only one retry")
        h.on(.refusalSent)
        #expect(h.closed?.kind == .echRejected)
        #expect(h.closed?.reason.contains("retried once with a fresh config from DNS") == true)
    }

    @Test func anExplicitConfigIsNotDroppedAndSaysToUpdateIt() throws {
        let h = try H(try H.settings(ech: .config(try Self.selection(), source: UpstreamECH.explicitSource)))
        h.start()
        try h.run()
        h.on(.refusalSent)
        #expect(h.closed?.kind == .echRejected)
        #expect(h.closed?.reason.contains("--ech-config may be stale") == true)
        #expect(h.forgotten.isEmpty)
    }

    @Test func greaseCompletesWithTheSNIPolicyAndSaysSo() throws {
        let h = try H(try H.settings(sniPolicy: .omit, ech: .grease("no HTTPS record")))
        h.start()
        try h.run()
        #expect(h.closed == nil && h.handover == "relay")
        #expect(h.notes.contains(.ech("grease", outerSNI: "-")))
    }

    @Test func aClientsOwnECHExtensionIsNotedAndTheHandshakeGoesOn() throws {
        let h = try H()
        h.browser.offerECHGrease(try ECHGrease.extensionData(serverName: "site.test", alpn: ["h2"]))
        h.start()
        try h.run()
        #expect(h.closed == nil && h.handover == "relay")
        #expect(h.notes.contains(.clientECH))
    }

    @Test func aClientsECHWithAnotherOuterNameIsRefusedSayingWhy() throws {
        let h = try H(sni: "public.test")
        h.browser.offerECHGrease(try ECHGrease.extensionData(serverName: "public.test", alpn: ["h2"]))
        h.start()
        try h.run()
        #expect(h.refusal == TLSAlert.fatal(TLSAlert.Code.accessDenied))
        h.on(.refusalSent)
        #expect(h.closed?.kind == .sniMismatch)
        #expect(h.closed?.reason.contains("the client sent Encrypted Client Hello (outer SNI public.test)") == true)
    }

    @Test func offSendsNoExtension() throws {
        let h = try H(try H.settings(logRecords: true, ech: .off))
        h.start()
        try h.run()
        #expect(h.handover == "relay")
        #expect(h.notes.contains(.ech("off", outerSNI: "site.test")))
    }
}
