import Testing
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Every way a pass-through connection can end, through the whole machine (handshake relay,
/// switch, splice): one case per `close=` token it can produce, half-close in either order once
/// spliced, either side gone, and the deadline in each state.
@Suite("PassThroughMachine: every ending")
struct PassThroughEndingsTests {
    typealias Harness = TransferHarness<PassThroughMachine>

    /// A harness whose handshake is over and whose splice relay runs.
    static func spliced(_ buffers: RecordBuffers, idleTimeout: Double = 300, pipes: Bool = true) -> Harness {
        var h = PassThroughMachineTests.harness(buffers, PassThroughMachineTests.settings(idleTimeout: idleTimeout))
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.serverHello)
        h.settle()
        h.peerSends(.client, TLSBytes.applicationData(30))
        h.deliver(.upstream)
        h.receiveEnds(.upstream, -ECANCELED)
        return h
    }

    /// A splice in of `d` completing with `inResult`, then the splice out it started (if any)
    /// with `outResult`.
    static func fill(_ h: inout Harness, _ d: TransferDirection, in inResult: Int32, out outResult: Int32) -> [String] {
        h.feed(.polled(d)) + h.feed(.splicedIn(d, result: inResult)) + h.feed(.splicedOut(d, result: outResult, now: h.now))
    }

    static func isSplicing(_ h: Harness) -> Bool {
        if case .splicing = h.machine.state { return true }
        return false
    }

    static func isClosed(_ h: Harness) -> Bool {
        if case .closed = h.machine.state { return true }
        return false
    }

    @Test func okWhenBothSidesCloseClientFirst() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers)
        #expect(Self.isSplicing(h))
        #expect(Self.fill(&h, .up, in: 0, out: -EAGAIN) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)).isEmpty)
        // The other direction still moves after the client's half-close.
        #expect(Self.fill(&h, .down, in: 100, out: 100) == ["out down 100", "in down 65436", "moved down 100"])
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
        #expect(Self.isClosed(h))
    }

    @Test func okWhenBothSidesCloseUpstreamFirst() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers)
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)).isEmpty)
        #expect(Self.fill(&h, .up, in: 7, out: 7) == ["out up 7", "in up 65529", "moved up 7"])
        #expect(Self.fill(&h, .up, in: 0, out: -EAGAIN) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)) == ["close ok: both sides closed"])
    }

    @Test func clientGoneWhileSpliced() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers)
        #expect(Self.fill(&h, .up, in: -ECONNRESET, out: -EAGAIN) == [
            "end client reset", "close client-gone: client: Connection reset by peer",
        ])
        // Late completions change nothing.
        #expect(Self.fill(&h, .down, in: 5, out: 5).isEmpty)
    }

    @Test func upstreamGoneWhileSpliced() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers)
        #expect(Self.fill(&h, .down, in: -ECONNRESET, out: -EAGAIN) == [
            "end upstream reset", "close upstream-gone: upstream: Connection reset by peer",
        ])
    }

    @Test func writingToAGoneClientIsClientGone() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers)
        #expect(Self.fill(&h, .down, in: 10, out: -EPIPE) == [
            "out down 10", "in down 65526", "end client reset", "close client-gone: client: Broken pipe",
        ])
    }

    @Test func idleTimeoutWhileSpliced() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers, idleTimeout: 10)
        h.advance(seconds: 4)
        #expect(Self.fill(&h, .up, in: 3, out: 3) == ["out up 3", "in up 65533", "moved up 3"])
        h.advance(seconds: 6)
        // 10 s after the splice began, but data moved 6 s ago: the deadline moves.
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["deadline 14.0"])
        h.advance(seconds: 4)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["close idle-timeout: no data either way for 10s"])
    }

    @Test func anEarlyDeadlineWhileSplicedRearms() {
        let buffers = RecordBuffers()
        var h = Self.spliced(buffers, idleTimeout: 10)
        #expect(h.feed(.deadlinePassed(now: h.now + 1)) == ["deadline 10.0"])
    }

    @Test func errorWhenTheSplicePipesCannotBeOpened() {
        let buffers = RecordBuffers()
        var h = PassThroughMachineTests.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.serverHello)
        h.settle()
        h.peerSends(.client, TLSBytes.applicationData(30))
        h.deliver(.upstream)
        // The owner performs openPipes: here the kernel refuses.
        var actions: [TransferAction] = []
        h.machine.handle(.received(.upstream, result: -ECANCELED, now: h.now), &actions)
        #expect(actions.map(TransferHarness<PassThroughMachine>.describe) == [
            "release record buffers", "non-blocking", "open pipes",
        ])
        actions.removeAll()
        h.machine.handle(.pipesFailed("Too many open files"), &actions)
        #expect(actions.map(TransferHarness<PassThroughMachine>.describe) == [
            "close error: cannot start splice relay: Too many open files",
        ])
        #expect(Self.isClosed(h))
    }

    @Test func eventsBeforeTheStartAreIgnored() {
        let buffers = RecordBuffers()
        var h = PassThroughMachineTests.harness(buffers)
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000_000)).isEmpty)
        #expect(h.feed(.received(.client, result: 5, now: h.now)).isEmpty)
        #expect(h.start().first == "deadline 15.0")
    }

    @Test func theDeadlineWhileRefusing() {
        let buffers = RecordBuffers()
        var h = PassThroughMachineTests.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "other.example"))
        // The refusal's own deadline (2 s), whatever the handshake's was.
        #expect(h.feed(.deadlinePassed(now: h.now + 1_999_999_999)) == ["deadline 2.0"])
        #expect(h.feed(.deadlinePassed(now: h.now + 2_000_000_000)).first?.hasPrefix("close sni-mismatch") == true)
    }

    @Test func everyTokenIsOneThePassThroughTableNames() {
        // The tokens this machine's causes produce are all in CloseReason.Kind (the README table).
        let causes: [TransferCloseCause] = [
            .bothClosed, .peerFailed(.client, result: -ECONNRESET), .peerFailed(.upstream, result: -ETIMEDOUT),
            .closedDuringHandshake(.client, partial: nil), .alertThenClosed(sender: .upstream, alert: "fatal handshake_failure", closer: .client),
            .sniMismatch(sni: "a", host: "b"), .helloTooLarge(capacity: 1), .closedMidRecord(.upstream),
            .handshakeTimeout(seconds: 15), .idleTimeout(seconds: 300), .spliceUnavailable("x"),
        ]
        let tokens = Set(causes.map { $0.reason.kind.rawValue })
        #expect(tokens == ["ok", "client-gone", "upstream-gone", "handshake-failed", "sni-mismatch",
                           "handshake-timeout", "idle-timeout", "error"])
        #expect(TransferCloseCause.peerFailed(.upstream, result: -ETIMEDOUT).reason.reason == "upstream: Connection timed out")
        #expect(TransferCloseCause.alertThenClosed(sender: .upstream, alert: "fatal handshake_failure", closer: .client).reason.reason
                == "upstream sent alert fatal handshake_failure; then the client closed")
    }
}
