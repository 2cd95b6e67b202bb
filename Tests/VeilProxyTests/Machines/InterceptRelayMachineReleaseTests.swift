import Testing
import VeilRuntime
import VeilTLS
@testable import VeilProxy

/// InterceptRelayMachine gives an idle connection's memory back: after `releaseAfter` with no data
/// either way both legs are told to `.release` (once per pause, never while data moves), and data
/// moves as before afterwards, through real OpenSSL peers, on either record layer.
@Suite("InterceptRelayMachine: memory while idle")
struct InterceptRelayMachineReleaseTests {
    typealias H = InterceptRelayHarness
    static let quiet: UInt64 = 200_000_000

    @Test func aQuietConnectionReleasesOnceThenWaitsForTheIdleTimeout() throws {
        let h = try H(idleTimeout: 30, releaseAfter: Self.quiet)
        let start = h.now
        #expect(h.deadline == start + Self.quiet, "the release comes before the idle timeout")
        h.run()  // what the handshakes left to send goes out
        #expect(h.on(.deadlinePassed(now: start + Self.quiet)) == ["release client", "release upstream", "release scratch", "deadline"])
        #expect(h.deadline == start + 30 * H.second)
        for side in [TransferSide.client, .upstream] {
            #expect(h.leg(side).engine.inbound.isEmpty && h.leg(side).engine.outbound.isEmpty)
        }
        // Released already: the next deadline is the idle timeout's, with no second release.
        #expect(h.on(.deadlinePassed(now: start + 30 * H.second)) == ["close idle-timeout"])
    }

    @Test func noReleaseWhileDataMoves() throws {
        let h = try H(idleTimeout: 30, releaseAfter: Self.quiet)
        let start = h.now
        h.now = start + Self.quiet / 2
        h.relay(100, from: .client)
        let moved = h.now
        #expect(h.on(.deadlinePassed(now: start + Self.quiet)) == ["deadline"], "data moved 100 ms ago")
        #expect(h.deadline == moved + Self.quiet)
        #expect(h.on(.deadlinePassed(now: moved + Self.quiet)) == ["release client", "release upstream", "release scratch", "deadline"])
    }

    @Test(arguments: [RecordLayerMode.openssl, .veil])
    func dataMovesAfterAReleaseAndTheNextPauseReleasesAgain(_ layer: RecordLayerMode) throws {
        let h = try H(recordLayer: layer, idleTimeout: 30, releaseAfter: Self.quiet)
        if layer == .veil {
            h.relay(80_000, from: .upstream)
            h.relay(80_000, from: .client)
            #expect(h.records.last == "veil")
        }
        h.now += Self.quiet
        #expect(h.on(.deadlinePassed(now: h.now)).prefix(3) == ["release client", "release upstream", "release scratch"])
        // Data after the release: OpenSSL and the engines take their buffers again.
        h.now += 5 * H.second
        h.write(.upstream, Array(repeating: 0x41, count: 3000))
        #expect(h.completeReceive(.upstream))
        #expect(h.deadline == h.now + Self.quiet, "the next pause is watched for again")
        h.run()
        #expect(h.read(.client).bytes == Array(repeating: 0x41, count: 3000))
        h.relay(50_000, from: .client)
        h.relay(50_000, from: .upstream)
        #expect(h.closed == nil)
        h.now += Self.quiet
        #expect(h.on(.deadlinePassed(now: h.now)).prefix(3) == ["release client", "release upstream", "release scratch"])
        h.relay(20_000, from: .upstream)
        #expect(h.closed == nil)
    }

    @Test func withoutAnIdleTimeoutTheReleaseIsTheOnlyDeadline() throws {
        let h = try H(idleTimeout: 0, releaseAfter: Self.quiet)
        #expect(h.deadline == h.now + Self.quiet)
        #expect(h.on(.deadlinePassed(now: h.now + Self.quiet)) == ["release client", "release upstream", "release scratch"])
        #expect(h.on(.deadlinePassed(now: h.now + 1000 * H.second)).isEmpty)
        #expect(h.closed == nil)
    }
}
