import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// InterceptMachine after the handshakes: which relay, and the kTLS switch (drain, ticket wait,
/// flush, install per leg) with every outcome: both legs on kTLS (splice), one refused (mixed
/// relay), none (userspace), `--ktls require`, the upstream closing meanwhile, the timeout.
@Suite("InterceptMachine: kTLS switch decisions")
struct InterceptMachineKernelTLSTests {
    typealias H = InterceptHarness

    static func kernelNote(_ h: H) -> String? {
        h.notes.compactMap { if case .kernelTLS(let n) = $0 { return n } else { return nil } }.last
    }

    @Test func bothLegsOnKernelTLSGoToTheSplice() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.start()
        try h.run()
        #expect(h.closed == nil)
        #expect(h.handover == "splice")
        #expect(h.installed == [.client, .upstream])
        #expect(h.upstream.tickets > 0, "the origin's ticket reached the cache before the switch")
        #expect(Self.kernelNote(h) == nil)
        #expect(h.client.engine.outbound.readable == 0 && h.upstream.engine.outbound.readable == 0, "flushed first")
    }

    @Test func aTicketThatDoesNotComeIsWaitedForBriefly() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        #expect(h.stateName == "kernelSwitch")
        #expect(h.deadline == h.now + 2_000_000, "the wait: the upstream handshake's duration, at least 2 ms")
        #expect(h.receiving[.upstream] != nil && h.dontWait[.upstream] == false, "waiting for a record")
        #expect(h.on(.deadlinePassed(now: h.now + 1_000_000)) == ["deadline"])
        #expect(h.on(.deadlinePassed(now: h.now + 2_000_000)) == ["cancel upstream", "deadline"])
        #expect(h.deadline == h.now + 15 * H.second, "back to the handshake timeout")
        // The cancelled receive completes: nothing more waits upstream, the switch goes on.
        h.receiving[.upstream] = nil
        h.on(.received(.upstream, result: -ECANCELED, now: h.now))
        try h.run()
        #expect(h.handover == "splice")
        #expect(h.upstream.tickets == 0)
    }

    @Test func theHandshakeTimeoutEndsTheSwitch() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        #expect(h.stateName == "kernelSwitch")
        h.on(.deadlinePassed(now: h.now + 2_000_000))
        #expect(h.on(.deadlinePassed(now: h.now + 14 * H.second)) == ["deadline"])
        #expect(h.on(.deadlinePassed(now: h.now + 15 * H.second)) == ["close handshake-timeout"])
    }

    @Test func aRefusedUpstreamLegAfterTheClientsEndsTheConnection() throws {
        // The client leg is installed first; an upstream failure then cannot be undone.
        let h = try H(try H.settings(kernelTLS: true))
        h.installErrors[.upstream] = "refused by VEIL_FAULT_KTLS_REFUSE"
        h.start()
        try h.run()
        #expect(h.closeLine == "error: kTLS install failed on the upstream leg after the other succeeded: refused by VEIL_FAULT_KTLS_REFUSE")
    }

    @Test func aRefusedClientLegLeavesTheUpstreamOnKernelTLS() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.installErrors[.client] = "refused by VEIL_FAULT_KTLS_REFUSE"
        h.start()
        try h.run()
        #expect(h.handover == "mixed upstream")
        #expect(h.installed == [.upstream])
        #expect(Self.kernelNote(h) == "client leg: refused by VEIL_FAULT_KTLS_REFUSE")
    }

    @Test func anUpstreamThroughATunnelLeavesTheClientOnKernelTLS() throws {
        let h = try H(try H.settings(kernelTLS: true, upstreamIsTCP: false))
        h.start()
        try h.run()
        #expect(h.handover == "mixed client")
        #expect(h.installed == [.client])
        #expect(Self.kernelNote(h) == "upstream leg: the relay tunnel's socketpair, not a TCP socket")
    }

    @Test func noLegOnKernelTLSRunsTheUserspaceRelay() throws {
        let h = try H(try H.settings(kernelTLS: true, clientIsTCP: false))
        h.installErrors[.upstream] = "TCP_ULP tls: No such file or directory"
        h.start()
        try h.run()
        #expect(h.handover == "relay")
        #expect(h.installed.isEmpty)
        #expect(Self.kernelNote(h) == "client leg: not a TCP socket (a socketpair); upstream leg: TCP_ULP tls: No such file or directory")
    }

    @Test func kernelTLSRequiredAndALegWithoutIt() throws {
        let h = try H(try H.settings(kernelTLS: true, ktls: .require, upstreamIsTCP: false))
        h.start()
        try h.run()
        #expect(h.closeLine == "ktls-unavailable: --ktls require: upstream leg: the relay tunnel's socketpair, not a TCP socket")

        let r = try H(try H.settings(kernelTLS: true, ktls: .require))
        r.installErrors[.client] = "refused"
        r.start()
        try r.run()
        #expect(r.closeLine == "ktls-unavailable: --ktls require: client leg: refused")
    }

    @Test func insideTheHTTPSListenerTheClientLegStaysInUserspace() throws {
        let h = try H(try H.settings(kernelTLS: true, viaListener: true))
        h.start()
        #expect(h.receiving[.client] == .max, "no switch to follow: no exact reads")
        try h.run()
        #expect(h.handover == "relay")
        #expect(Self.kernelNote(h) == "client leg is inside the HTTPS listener's TLS")
    }

    @Test func kernelTLSOffIsNoted() throws {
        let h = try H(try H.settings(kernelTLS: false, ktls: .off))
        h.start()
        try h.run()
        #expect(h.handover == "relay")
        #expect(Self.kernelNote(h) == "off")
    }

    @Test func anUpstreamEOFDuringTheSwitchGoesToTheUserspaceRelay() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        #expect(h.stateName == "kernelSwitch")
        h.fail(.upstream, receive: 0)
        #expect(h.handover == "relay")
        #expect(h.upstream.eof, "the relay passes the end on")
    }

    @Test func anUpstreamCloseNotifyDuringTheSwitchAbandonsIt() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        h.origin.close()
        h.holdUpstream = false
        try h.run()
        #expect(h.handover == "relay")
        #expect(Self.kernelNote(h) == "upstream closed during the kTLS switch")

        let r = try H(try H.settings(kernelTLS: true, ktls: .require))
        r.holdUpstream = true
        r.start()
        try r.run()
        r.origin.close()
        r.holdUpstream = false
        try r.run()
        #expect(r.closeLine == "ktls-unavailable: --ktls require: upstream closed during the kTLS switch")
    }

    @Test func earlyUpstreamDataGoesToTheClientsEngineBeforeTheSwitch() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        let hello = Array("early".utf8)
        _ = hello.withUnsafeBytes { raw in raw.baseAddress.map { h.origin.write($0, count: raw.count) } }
        h.holdUpstream = false
        try h.run()
        #expect(h.handover == "splice")
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
        defer { scratch.deallocate() }
        var got: [UInt8] = []
        for _ in 0..<4 {
            if case .data(let n) = h.browser.read(into: scratch, max: 64) {
                got += Array(UnsafeRawBufferPointer(start: scratch, count: n))
            }
        }
        #expect(got == hello)
    }

    @Test func socketErrorsDuringTheSwitch() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        h.fail(.upstream, receive: -ECONNRESET)
        #expect(h.closed?.kind == .upstreamGone)
        #expect(h.ends == ["upstream reset"])
    }

    @Test func invalidUpstreamRecordsDuringTheSwitch() throws {
        let h = try H(try H.settings(kernelTLS: true, logRecords: true))
        h.holdUpstream = true
        h.start()
        try h.run()
        h.origin.outbound.clear()
        _ = h.origin.outbound.append([0x47, 0x45, 0x54, 0x20, 0x2f])
        h.holdUpstream = false
        h.completeReceive(.upstream)
        #expect(h.closed?.kind == .handshakeFailed)
    }
}
