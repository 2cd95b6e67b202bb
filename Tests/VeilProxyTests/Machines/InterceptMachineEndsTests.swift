import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Every way InterceptMachine ends: each `close=` token it produces, the handshake timeout in
/// each state, refusals (SNI, upstream certificate, upstream handshake) and their deadline, a
/// side gone (EOF at or inside a record, an error) in each handshake state.
@Suite("InterceptMachine: every end")
struct InterceptMachineEndsTests {
    typealias H = InterceptHarness

    /// Runs up to `state` (certificates delivered unless waiting for one is the point).
    static func reach(_ state: String, _ h: H) throws {
        h.start()
        switch state {
        case "clientHello":
            break
        case "upstreamHandshake":
            _ = h.browser.handshake()
            h.completeReceive(.client)
            h.completeReceive(.client)
        case "awaitingCertificate":
            try h.run(deliverCertificates: false)
        case "clientHandshake":
            try h.run(deliverCertificates: false)
            try h.deliverCertificate()
        default:
            Issue.record("no state \(state)")
        }
        #expect(h.stateName == state)
    }

    static let handshakeStates = ["clientHello", "upstreamHandshake", "awaitingCertificate", "clientHandshake"]

    @Test(arguments: handshakeStates)
    func theHandshakeTimeoutEndsEachState(_ state: String) throws {
        let h = try H()
        try Self.reach(state, h)
        #expect(h.on(.deadlinePassed(now: h.now + 15 * H.second - 1)) == ["deadline"])
        #expect(h.closed == nil)
        #expect(h.on(.deadlinePassed(now: h.now + 15 * H.second)) == ["close handshake-timeout"])
        #expect(h.closeLine == "handshake-timeout: TLS handshake not complete within 15s")
        #expect(h.on(.deadlinePassed(now: h.now + 30 * H.second)).isEmpty, "closed: nothing more")
    }

    @Test func aFractionalTimeoutIsWrittenAsItIs() {
        #expect(InterceptFailure.handshakeTimeout(seconds: 0.5).closeReason.reason == "TLS handshake not complete within 0.5s")
    }

    @Test(arguments: handshakeStates)
    func theClientGoneAtARecordBoundary(_ state: String) throws {
        let h = try H()
        try Self.reach(state, h)
        h.receiving[.client] = 5
        h.fail(.client, receive: 0)
        #expect(h.closeLine == "client-gone: client closed during the TLS handshake")
        #expect(h.ends == ["client fin"])
    }

    @Test func theClientGoneInsideARecord() throws {
        let h = try H(try H.settings(kernelTLS: true))
        h.start()
        // Half a ClientHello record, then EOF.
        _ = h.browser.handshake()
        h.completeReceive(.client)
        #expect(h.receiving[.client] != nil)
        h.fail(.client, receive: 0)
        #expect(h.closeLine == "client-gone: client closed during the TLS handshake")
        #expect(h.ends == ["client fin-mid-record"])
    }

    @Test func theUpstreamGoneDuringItsHandshake() throws {
        let h = try H()
        try Self.reach("upstreamHandshake", h)
        try h.run(rounds: 1)
        h.receiving[.upstream] = 5
        h.fail(.upstream, receive: 0)
        #expect(h.closeLine == "upstream-gone: upstream closed during the TLS handshake")
        #expect(h.ends == ["upstream fin"])
    }

    @Test func aSocketErrorOnEitherSideNamesIt() throws {
        let h = try H()
        try Self.reach("upstreamHandshake", h)
        h.receiving[.upstream] = 5
        h.fail(.upstream, receive: -ECONNRESET)
        #expect(h.closed?.kind == .upstreamGone)
        #expect(h.closed?.reason == CloseReason.peerFailed(client: false, result: -ECONNRESET).reason)
        #expect(h.ends == ["upstream reset"])

        let c = try H()
        try Self.reach("clientHandshake", c)
        #expect(c.sending.contains(.client), "the server's flight is on its way")
        c.sending.remove(.client)
        c.on(.sent(.client, result: -EPIPE, now: c.now))
        #expect(c.closed?.kind == .clientGone)
        #expect(c.ends == ["client reset"])
    }

    @Test func aTransientResultOnlyRetries() throws {
        let h = try H()
        h.start()
        h.receiving[.client] = nil
        #expect(h.on(.received(.client, result: -EAGAIN, now: h.now)) == ["receive client"])
        try Self.reach("upstreamHandshake", try H())
        let u = try H()
        try Self.reach("upstreamHandshake", u)
        #expect(u.sending.contains(.upstream))
        u.sending.remove(.upstream)
        #expect(u.on(.sent(.upstream, result: -EINTR, now: u.now)) == ["send upstream"])
        try u.run()
        #expect(u.handedOver)
    }

    @Test func aClientHelloForAnotherHostIsRefused() throws {
        let h = try H(sni: "other.test", verifyName: "other.test")
        h.start()
        _ = h.browser.handshake()
        h.completeReceive(.client)
        h.completeReceive(.client)
        #expect(h.stateName == "refusing")
        #expect(h.refusal == TLSAlert.fatal(TLSAlert.Code.accessDenied))
        #expect(h.refusal?.plaintextRecord == [21, 3, 3, 0, 2, 2, 49])
        #expect(h.certificateAsked == nil, "no certificate for a refused name")
        #expect(h.deadline == h.now + 2 * H.second)
        // Completions while the alert goes out change nothing.
        #expect(h.on(.received(.client, result: 10, now: h.now)).isEmpty)
        #expect(h.on(.sent(.client, result: 10, now: h.now)).isEmpty)
        #expect(h.on(.certificateFailed("late")).isEmpty)
        #expect(h.on(.refusalSent) == ["close sni-mismatch"])
        #expect(h.closeLine == "sni-mismatch: ClientHello SNI other.test differs from CONNECT host site.test (allow with --allow-sni-mismatch)")
    }

    @Test func aRefusalAlertThatDoesNotGoOutEndsAtItsDeadline() throws {
        let h = try H(sni: "other.test", verifyName: "other.test")
        h.start()
        try h.run()
        #expect(h.stateName == "refusing")
        #expect(h.on(.deadlinePassed(now: h.now + H.second)) == ["deadline"])
        #expect(h.on(.deadlinePassed(now: h.now + 2 * H.second)) == ["close sni-mismatch"])
    }

    @Test func anSNIMismatchAllowedGoesOn() throws {
        let h = try H(try H.settings(allowSNIMismatch: true), sni: "other.test", verifyName: "other.test",
                      originName: "site.test")
        h.start()
        try h.run()
        #expect(h.certificateAsked == nil)
        #expect(h.handedOver)
        #expect(h.notes.contains(.sni("other.test")))
    }

    @Test func anUpstreamCertificateForAnotherNameIsRefused() throws {
        let h = try H(originName: "elsewhere.test")
        h.start()
        try h.run()
        #expect(h.stateName == "refusing")
        #expect(h.refusal == TLSAlert.fatal(TLSAlert.Code.handshakeFailure))
        h.on(.refusalSent)
        #expect(h.closeLine == "upstream-cert: upstream certificate: hostname mismatch")
    }

    @Test func anUpstreamHandshakeFailureIsRefused() throws {
        let h = try H()
        try Self.reach("upstreamHandshake", h)
        try h.run(rounds: 1)
        // The origin answers with a fatal alert instead of its ServerHello.
        h.origin.outbound.clear()
        _ = h.origin.outbound.append([21, 3, 3, 0, 2, 2, 40])
        h.completeReceive(.upstream)
        if h.stateName != "refusing" { h.completeReceive(.upstream) }
        #expect(h.stateName == "refusing")
        #expect(h.refusal == TLSAlert.fatal(TLSAlert.Code.handshakeFailure))
        h.on(.refusalSent)
        #expect(h.closed?.kind == .handshakeFailed)
        #expect(h.closed?.reason.hasPrefix("upstream handshake: ") == true)
    }

    @Test func invalidTLSFromEitherSide() throws {
        let h = try H()
        h.start()
        h.browser.outbound.clear()
        _ = h.browser.outbound.append(Array("GET / HTTP/1.1\r\n\r\n".utf8))
        h.completeReceive(.client)
        #expect(h.closeLine == "not-tls: client sent non-TLS data (first byte 0x47)")

        let u = try H()
        try Self.reach("upstreamHandshake", u)
        try u.run(rounds: 1)
        u.origin.outbound.clear()
        _ = u.origin.outbound.append(Array("HTTP/1.1 400 Bad\r\n\r\n".utf8))
        u.completeReceive(.upstream)
        #expect(u.closed?.kind == .handshakeFailed)
        #expect(u.closeLine == "handshake-failed: server sent non-TLS data (first byte 0x48)")
    }

    @Test func aMalformedClientHelloIsTheClientsFault() throws {
        let h = try H()
        h.start()
        h.browser.outbound.clear()
        // A handshake record holding a ClientHello whose body is cut short.
        _ = h.browser.outbound.append([22, 3, 1, 0, 6, 1, 0, 0, 2, 3, 3])
        h.completeReceive(.client)
        h.completeReceive(.client)
        #expect(h.closed?.kind == .handshakeFailed || h.closed?.kind == .notTLS)
        #expect(h.closed?.reason.hasPrefix("client sent") == true)
    }

    @Test func tooManyBytesBeforeTheTunnelIsUp() throws {
        let h = try H(inbound: 16)
        h.start(pipelined: [UInt8](repeating: 22, count: 17))
        #expect(h.closeLine == "bad-request: client sent 17 bytes before the tunnel was up")
    }

    @Test func aHandshakeRecordLargerThanTheInput() throws {
        let h = try H(inbound: 64)
        h.start()
        h.browser.outbound.clear()
        _ = h.browser.outbound.append([22, 3, 1, 0x40, 0] + [UInt8](repeating: 1, count: 59))
        h.completeReceive(.client)
        h.completeReceive(.client)
        #expect(h.closeLine == "handshake-failed: handshake record does not fit in 64 bytes")
    }

    @Test func aCertificateThatCannotBeMinted() throws {
        let h = try H()
        try Self.reach("awaitingCertificate", h)
        #expect(h.on(.certificateFailed("no key")) == ["close error"])
        #expect(h.closeLine == "error: cannot mint a certificate: no key")
    }

    @Test func theClientRefusingTheMintedCertificate() throws {
        // A browser that does not trust Veil's CA: its alert fails the client handshake.
        let h = try H(browserContext: try TLSContext.upstream(TLSContext.UpstreamOptions()))
        h.start()
        try h.run()
        #expect(h.closed?.kind == .handshakeFailed)
        #expect(h.closed?.reason.hasPrefix("client handshake: ") == true)
    }

    @Test func setUpFailuresAreErrors() {
        #expect(InterceptFailure.upstreamSetUp("x").closeReason.reason == "upstream TLS set-up: x")
        #expect(InterceptFailure.clientSetUp("y").closeReason.reason == "client TLS set-up: y")
        #expect(InterceptFailure.upstreamHandshake(.failed("z")).closeReason.reason == "upstream handshake: z")
        #expect(InterceptFailure.clientHandshake(.certificate("w")).closeReason.reason == "client handshake: certificate: w")
    }

    @Test func anUnframableRecordVeilWroteIsLoggedAsAFailure() throws {
        let h = try H(try H.settings(logRecords: true))
        h.start()
        // OpenSSL's output callback sees bytes that are not a record.
        [UInt8]([0x47, 0x45, 0x54, 0x20, 0x2f]).withUnsafeBytes { h.machine.recordLog.scanOutput(h.client, $0) }
        #expect(h.on(.deadlinePassed(now: h.now)) == ["deadline", "close handshake-failed"])
    }
}
