import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// InterceptRelayMachine's paths: data both ways on OpenSSL and on Veil's record layer (the
/// takeover), the record log, KeyUpdate, the idle deadline.
@Suite("InterceptRelayMachine: relaying")
struct InterceptRelayMachineTests {
    typealias H = InterceptRelayHarness

    @Test(arguments: [RecordLayerMode.openssl, .veil])
    func dataMovesBothWays(_ layer: RecordLayerMode) throws {
        let h = try H(recordLayer: layer)
        #expect(h.stateName == "relaying")
        #expect(h.deadline == h.now + 300 * H.second)
        #expect(h.records == ["openssl"])
        h.relay(1000, from: .client)
        h.relay(5000, from: .upstream)
        #expect(h.closed == nil)
        #expect((h.sent[.upstream] ?? 0) > 1000 && (h.sent[.client] ?? 0) > 5000)
        #expect(h.records == ["openssl"], "under takeoverAfterBytes: no takeover")
    }

    @Test func veilsRecordLayerTakesOverAfterEnoughBytes() throws {
        let h = try H(recordLayer: .veil)
        h.relay(40_000, from: .upstream)
        h.relay(40_000, from: .client)
        #expect(h.records.last == "veil")
        // And data goes on moving, both ways, on Veil's own records.
        h.relay(100_000, from: .upstream)
        h.relay(70_000, from: .client)
        #expect(h.closed == nil)
        guard case .veil = h.machine.relay?.records else {
            Issue.record("not on Veil's records")
            return
        }
    }

    @Test func openSSLRecordsStayWhenAsked() throws {
        let h = try H(recordLayer: .openssl)
        h.relay(100_000, from: .upstream)
        #expect(h.records == ["openssl"])
        guard case .openssl = h.machine.relay?.records else {
            Issue.record("the record layer changed")
            return
        }
    }

    @Test func aTakeoverWaitsForTheFirstUpstreamBytesOrTheDeadline() throws {
        let h = try H(recordLayer: .veil)
        // Client bytes only: a TLS 1.3 upstream whose ticket may not have come yet.
        h.relay(70_000, from: .client)
        let took = h.records.last == "veil"
        // Upstream data (or its tickets) lifts the wait.
        h.relay(100, from: .upstream)
        h.relay(10, from: .client)
        #expect(h.records.last == "veil", "took over once upstream data came (already: \(took))")
    }

    @Test func theRecordLogHasEveryRecord() throws {
        let h = try H(recordLayer: .veil, logRecords: true)
        h.logged.removeAll()
        h.relay(100, from: .client)
        h.relay(100, from: .upstream)
        #expect(h.logged.contains("client->proxy application_data") || h.logged.contains { $0.hasPrefix("client->proxy") })
        #expect(h.logged.contains { $0.hasPrefix("proxy->upstream") })
        #expect(h.logged.contains { $0.hasPrefix("upstream->proxy") })
        #expect(h.logged.contains { $0.hasPrefix("proxy->client") })
        // After the takeover too (Veil seals the records itself).
        h.relay(80_000, from: .upstream)
        h.relay(80_000, from: .client)
        #expect(h.records.last == "veil")
        h.logged.removeAll()
        h.relay(100, from: .upstream)
        #expect(h.logged.contains { $0.hasPrefix("proxy->client") })
    }

    @Test func theIdleDeadline() throws {
        let h = try H(idleTimeout: 30)
        let start = h.now
        #expect(h.deadline == start + 30 * H.second)
        h.now += 10 * H.second
        h.relay(10, from: .client)
        // Data moved: the deadline moves with it.
        #expect(h.on(.deadlinePassed(now: start + 30 * H.second)) == ["deadline"])
        #expect(h.deadline == start + 40 * H.second)
        #expect(h.on(.deadlinePassed(now: start + 40 * H.second)) == ["close idle-timeout"])
        #expect(h.closeLine == "idle-timeout: no data either way for 30s")
        #expect(h.on(.deadlinePassed(now: start + 80 * H.second)).isEmpty, "closed: nothing more")
    }

    @Test func noIdleTimeoutNoDeadline() throws {
        let h = try H(idleTimeout: 0)
        #expect(h.deadline == 0)
        #expect(h.on(.deadlinePassed(now: h.now + 1000 * H.second)).isEmpty)
        #expect(h.closed == nil)
    }

    @Test func aKeyUpdateIsAppliedAndAnswered() throws {
        let h = try H(recordLayer: .veil)
        h.relay(80_000, from: .upstream)
        h.relay(80_000, from: .client)
        #expect(h.records.last == "veil")
        // The browser (on its own record layer from now) asks for a KeyUpdate.
        guard case .ciphers(let tx, let rx) = h.browser.recordCiphers() else {
            Issue.record("the browser cannot take over")
            return
        }
        h.browser.handOverRecords()
        #expect(tx.seal(type: TLSContentType.handshake.rawValue, [24, 0, 0, 1, 1], into: h.browser.outbound) != nil)
        #expect(tx.update())
        h.run()
        #expect(h.closed == nil)
        // Veil answered with its own KeyUpdate, sealed before anything else to the browser.
        let input = h.browser.inbound
        guard case .record(let type, let body, let count, let length) = rx.openNext(in: input) else {
            Issue.record("no answer")
            return
        }
        #expect(type == TLSContentType.handshake.rawValue)
        #expect(Array(UnsafeRawBufferPointer(start: body, count: count)) == RecordCipher.keyUpdateAnswer)
        input.consume(length)
        guard case .applied = rx.receivePostHandshake(UnsafeRawBufferPointer(start: body, count: count)) else {
            Issue.record("the answer does not apply")
            return
        }
    }

    @Test func eventsAfterTheCloseDoNothing() throws {
        let h = try H()
        h.fail(.client, receive: -ECONNRESET)
        #expect(h.closed != nil)
        #expect(h.on(.sent(.upstream, result: 10, now: h.now)).isEmpty)
        #expect(h.on(.received(.upstream, result: 10, now: h.now)).isEmpty)
        #expect(h.on(.shutDown(.client)).isEmpty)
        #expect(h.on(.deadlinePassed(now: h.now + 1000 * H.second)).isEmpty)
    }

    @Test func aTransientResultReadsAgain() throws {
        let h = try H()
        h.run()
        #expect(h.receiving.contains(.client))
        #expect(h.fail(.client, receive: -EAGAIN).contains("receive client"))
        h.relay(10, from: .client)
        #expect(h.closed == nil)
    }
}
