import Testing
@testable import VeilProxy

@Suite("HeapTrim: when a worker returns a burst's freed heap")
struct HeapTrimTests {
    let second: UInt64 = 1_000_000_000

    @Test func noTrimBeforeABurst() {
        var t = HeapTrim()
        for i in 0..<(HeapTrim.burst - 1) { t.connectionEnded(now: UInt64(i)) }
        #expect(t.nextCheck == nil)
        let due1 = t.due(now: 100 * second)
        #expect(!due1)
    }

    @Test func trimsOnceTheBurstIsQuiet() {
        var t = HeapTrim()
        for i in 0..<HeapTrim.burst { t.connectionEnded(now: second + UInt64(i)) }
        let last = second + UInt64(HeapTrim.burst - 1)
        #expect(t.nextCheck == last + HeapTrim.quiet)
        let due2 = t.due(now: last + HeapTrim.quiet - 1)
        #expect(!due2)
        let due3 = t.due(now: last + HeapTrim.quiet)
        #expect(due3)
        // Counted again from zero: the next burst, not the next connection, triggers it.
        #expect(t.nextCheck == nil)
        t.connectionEnded(now: 10 * second)
        let due4 = t.due(now: 20 * second)
        #expect(!due4)
    }

    @Test func aLaterEndPostponesTheTrim() {
        var t = HeapTrim()
        for _ in 0..<HeapTrim.burst { t.connectionEnded(now: second) }
        t.connectionEnded(now: 2 * second)
        let due5 = t.due(now: second + HeapTrim.quiet)
        #expect(!due5)
        #expect(t.nextCheck == 2 * second + HeapTrim.quiet)
        let due6 = t.due(now: 2 * second + HeapTrim.quiet)
        #expect(due6)
    }
}
