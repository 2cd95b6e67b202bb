import Testing
@testable import VeilProxy

@Suite("RelayChoice: spread over the relays that answer, fail over, back off")
struct RelayChoiceTests {
    let second: UInt64 = 1_000_000_000

    @Test func newTunnelsGoRoundTheRelaysThatAreUp() {
        var c = RelayChoice(count: 3)
        #expect([c.pick(now: 0), c.pick(now: 0), c.pick(now: 0), c.pick(now: 0)] == [0, 1, 2, 0])
        c.failed(1, reason: "refused", now: 0, jitter: 1)
        #expect([c.pick(now: 1), c.pick(now: 1), c.pick(now: 1)] == [2, 0, 2])
        // Back after its backoff (0.25 s).
        #expect(c.pick(now: second / 4 + 1) == 0)
        #expect(c.pick(now: second / 4 + 1) == 1)
    }

    @Test func aFailedTunnelGoesToARelayItHasNotTried() {
        var c = RelayChoice(count: 2)
        let first = c.pick(now: 0)
        #expect(first == 0)
        c.failed(0, reason: "connection refused", now: 0, jitter: 1)
        #expect(c.pick(now: 0, tried: RelayChoice.bit(0)) == 1)
        // Both tried: nothing left; the connection answers 502.
        #expect(c.pick(now: 0, tried: RelayChoice.bit(0) | RelayChoice.bit(1)) == nil)
    }

    @Test func backoffDoublesToThirtySecondsAndASuccessForgetsIt() {
        var c = RelayChoice(count: 1)
        var waits: [Double] = []
        var now: UInt64 = 0
        for _ in 0..<9 {
            c.failed(0, reason: "timeout", now: now, jitter: 1)
            waits.append(Double(c.health[0].downUntil - now) / 1e9)
            now = c.health[0].downUntil
        }
        #expect(waits == [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30])
        #expect(c.health[0].lastError == "timeout")
        c.succeeded(0)
        #expect(c.health[0] == RelayChoice.Health())
        c.failed(0, reason: "timeout", now: now, jitter: 0.5)
        #expect(c.health[0].downUntil == now + second / 8)
    }

    @Test func everyRelayDownTriesTheOneBackSoonest() {
        var c = RelayChoice(count: 3)
        c.failed(0, reason: "a", now: 0, jitter: 1)
        c.failed(0, reason: "a", now: 0, jitter: 1)   // 0.5 s
        c.failed(1, reason: "b", now: 0, jitter: 1)   // 0.25 s
        c.failed(2, reason: "c", now: 0, jitter: 1)
        c.failed(2, reason: "c", now: 0, jitter: 1)
        c.failed(2, reason: "c", now: 0, jitter: 1)   // 1 s
        #expect(c.pick(now: 0) == 1)
        #expect(c.pick(now: 0, tried: RelayChoice.bit(1)) == 0)
    }

    @Test func noRelaysNoPick() {
        var c = RelayChoice(count: 0)
        #expect(c.pick(now: 0) == nil)
        c.failed(3, reason: "x", now: 0)
        c.succeeded(3)
    }
}
