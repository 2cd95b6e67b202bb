import Testing
@testable import VeilProxy
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The splice relay, fed completions with no pipes and no sockets: the pipelined splices in and
/// out, back-pressure, pipe growth, half-close in either order, failures of either splice while
/// the other is in flight, late completions, idle deadlines, and on kTLS the records that are
/// not application data.
@Suite("SpliceMachine: splice relay, pass-through and kTLS")
struct SpliceMachineTests {
    typealias Harness = TransferHarness<SpliceMachine>

    static func started(_ purpose: SpliceMachine.Purpose, idle: Double = 300, limit: Int = 1 << 20) -> Harness {
        var h = Harness(SpliceMachine(purpose, idleTimeout: idle, pipeSizeLimit: limit))
        _ = h.start()
        return h
    }

    /// The splice in of `d` (and its poll) completing with `result`.
    @discardableResult
    static func spliceIn(_ h: inout Harness, _ d: TransferDirection, _ result: Int32) -> [String] {
        h.feed(.polled(d)) + h.feed(.splicedIn(d, result: result))
    }

    /// The splice out of `d` completing with `result`.
    @discardableResult
    static func spliceOut(_ h: inout Harness, _ d: TransferDirection, _ result: Int32) -> [String] {
        h.feed(.splicedOut(d, result: result, now: h.now))
    }

    @Test func startsBothDirections() {
        var h = Harness(SpliceMachine(.passThrough, idleTimeout: 300, pipeSizeLimit: 1 << 20))
        #expect(h.start() == ["non-blocking", "open pipes", "path splice", "deadline 300.0", "in up 65536", "in down 65536"])
    }

    @Test func theNextChunkIsReadWhileTheLastIsWritten() {
        var h = Self.started(.passThrough)
        // What came goes out at once, and the rest of the pipe is read meanwhile.
        #expect(Self.spliceIn(&h, .up, 1000) == ["out up 1000", "in up 64536"])
        // Room left: reading goes on while the first chunk is still going out.
        #expect(Self.spliceIn(&h, .up, 3000) == ["in up 61536"])
        #expect(Self.spliceOut(&h, .up, 1000) == ["moved up 1000", "out up 3000"])
        #expect(Self.spliceOut(&h, .up, 3000) == ["moved up 3000"])
        #expect(Self.spliceIn(&h, .up, 10) == ["out up 10", "in up 65526"])
        #expect(Self.spliceOut(&h, .up, 10) == ["moved up 10"])
        #expect(h.machine.bytes(.up) == 4010 && h.machine.bytes(.down) == 0)
        // Polls only precede their splices: they change nothing.
        #expect(h.feed(.polled(.down)).isEmpty && h.feed(.polled(.up)).isEmpty)
    }

    @Test func aFullDestinationIsWaitedForByAPoll() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, 5000) == ["out down 5000", "in down 60536"])
        // A short write: the rest waits for room.
        #expect(Self.spliceOut(&h, .down, 2000) == ["moved down 2000", "out down 3000 after poll"])
        #expect(Self.spliceOut(&h, .down, -EAGAIN) == ["out down 3000 after poll"])
        #expect(Self.spliceOut(&h, .down, 3000) == ["moved down 3000"])
        // Room again: the next chunk goes without a poll.
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        #expect(h.machine.bytes(.down) == 5000)
    }

    @Test func neverMoreThanThePipeHolds() {
        // A slow reader: the pipe fills, and nothing more is read until some of it is out.
        var h = Self.started(.passThrough, limit: 65536)
        #expect(Self.spliceIn(&h, .down, 40000) == ["out down 40000", "in down 25536"])
        #expect(Self.spliceIn(&h, .down, 25536) == [])
        #expect(Self.spliceOut(&h, .down, 40000) == ["moved down 40000", "out down 25536", "in down 40000"])
        #expect(Self.spliceIn(&h, .down, 40000) == [])
        #expect(Self.spliceOut(&h, .down, 1000) == ["moved down 1000", "out down 64536 after poll", "in down 1000"])
    }

    @Test func anEmptyReadWaitsForTheChunkInFlight() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .up, 100) == ["out up 100", "in up 65436"])
        // EAGAIN while a chunk is going out (a full pipe reads nothing): no new read until it
        // is out, so nothing spins.
        #expect(Self.spliceIn(&h, .up, -EAGAIN) == [])
        #expect(Self.spliceOut(&h, .up, 100) == ["moved up 100", "in up 65536"])
        // With nothing going out, the poll does the waiting: read again at once.
        #expect(Self.spliceIn(&h, .up, -EAGAIN) == ["in up 65536"])
        #expect(Self.spliceIn(&h, .up, -EINTR) == ["in up 65536"])
    }

    @Test func halfCloseClientFirst() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .up, 0) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)).isEmpty)
        // The other direction keeps running.
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        #expect(Self.spliceOut(&h, .down, 100) == ["moved down 100"])
        #expect(Self.spliceIn(&h, .down, 0) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
    }

    @Test func halfCloseUpstreamFirst() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, 0) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)).isEmpty)
        #expect(Self.spliceIn(&h, .up, 10) == ["out up 10", "in up 65526"])
        #expect(Self.spliceOut(&h, .up, 10) == ["moved up 10"])
        #expect(Self.spliceIn(&h, .up, 0) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)) == ["close ok: both sides closed"])
    }

    @Test func anEOFWaitsForThePipeToDrain() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        // The EOF comes while the chunk is still going out: the FIN waits for the pipe.
        #expect(Self.spliceIn(&h, .down, 0) == ["end upstream tcp-fin"])
        #expect(Self.spliceOut(&h, .down, 40) == ["moved down 40", "out down 60 after poll"])
        #expect(Self.spliceOut(&h, .down, 60) == ["moved down 60", "shutdown down"])
        #expect(h.machine.bytes(.down) == 100)
        #expect(h.feed(.shutDown(.down)).isEmpty)
        #expect(Self.spliceIn(&h, .up, 0) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)) == ["close ok: both sides closed"])
    }

    @Test func aFullPipeGrowsUpToTheLimit() {
        var h = Self.started(.passThrough, limit: 1 << 20)
        #expect(Self.spliceIn(&h, .up, 65536) == ["resize pipe up 262144", "out up 65536", "in up 196608"])
        #expect(Self.spliceOut(&h, .up, 65536) == ["moved up 65536"])
        #expect(Self.spliceIn(&h, .up, 196608) == ["out up 196608", "in up 65536"])
        #expect(Self.spliceIn(&h, .up, 65536) == ["resize pipe up 1048576", "in up 786432"])
        #expect(Self.spliceOut(&h, .up, 262144) == ["moved up 262144"])
        // At the limit it is not asked again.
        #expect(Self.spliceIn(&h, .up, 786432) == ["out up 786432", "in up 262144"])
        #expect(Self.spliceIn(&h, .up, 262144) == [])
        // A partial read is not a bulk transfer.
        #expect(Self.spliceIn(&h, .down, 1000) == ["out down 1000", "in down 64536"])
    }

    @Test func aRefusedGrowthIsNotAskedAgain() {
        var h = Self.started(.passThrough)
        h.growPipes = false
        #expect(Self.spliceIn(&h, .down, 65536) == ["resize pipe down 262144", "out down 65536"])
        #expect(Self.spliceOut(&h, .down, 65536) == ["moved down 65536", "in down 65536"])
        #expect(Self.spliceIn(&h, .down, 65536) == ["out down 65536"])
    }

    @Test func aResetWhileReadingBlamesTheSource() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, -ECONNRESET) == ["end upstream reset", "close upstream-gone: upstream: Connection reset by peer"])
        // Late completions of the other direction change nothing.
        #expect(Self.spliceIn(&h, .up, 10).isEmpty)
        #expect(Self.spliceOut(&h, .up, 10).isEmpty)
    }

    @Test func aReadFailsWhileAChunkIsGoingOut() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        #expect(Self.spliceIn(&h, .down, -ECONNRESET) == ["end upstream reset", "close upstream-gone: upstream: Connection reset by peer"])
        // The splice out completes after the close: harmless.
        #expect(Self.spliceOut(&h, .down, 100).isEmpty)
        #expect(Self.spliceOut(&h, .down, -ECANCELED).isEmpty)
        #expect(h.feed(.shutDown(.down)).isEmpty)
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000_000)).isEmpty)
    }

    @Test func aWriteFailsWhileTheNextChunkIsRead() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .up, 100) == ["out up 100", "in up 65436"])
        #expect(Self.spliceOut(&h, .up, -EPIPE) == ["end upstream reset", "close upstream-gone: upstream: Broken pipe"])
        // The splice in completes after the close (with bytes, or cancelled): harmless.
        #expect(Self.spliceIn(&h, .up, 500).isEmpty)
        #expect(Self.spliceIn(&h, .up, -ECANCELED).isEmpty)
        #expect(h.machine.bytes(.up) == 0)
    }

    @Test func aFailedWriteBlamesTheDestination() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .down, 10) == ["out down 10", "in down 65526"])
        #expect(Self.spliceOut(&h, .down, -EPIPE) == ["end client reset", "close client-gone: client: Broken pipe"])
    }

    @Test func completionsNotAskedForAreIgnored() {
        var h = Self.started(.passThrough)
        // No splice out is in flight, and no resize was asked for.
        #expect(Self.spliceOut(&h, .up, 100).isEmpty)
        #expect(h.feed(.pipeResized(.up, capacity: 1 << 20)).isEmpty)
        #expect(h.feed(.recordSent(.up, result: 7)).isEmpty)
        #expect(Self.spliceIn(&h, .up, 100) == ["out up 100", "in up 65436"])
        // A cancelled splice out is tried again.
        #expect(Self.spliceOut(&h, .up, -ECANCELED) == ["out up 100"])
        #expect(h.machine.bytes(.up) == 0)
    }

    @Test func anotherErrorIsAnError() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .up, -EIO) == ["end client error", "close client-gone: client: Input/output error"])
    }

    @Test func theIdleDeadline() {
        var h = Self.started(.passThrough, idle: 3)
        h.advance(seconds: 2)
        Self.spliceIn(&h, .up, 10)
        Self.spliceOut(&h, .up, 10)
        #expect(h.feed(.deadlinePassed(now: h.now - 1_000_000_000)) == ["deadline 3.0"])
        h.advance(seconds: 2)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["deadline 5.0"])
        h.advance(seconds: 1)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["close idle-timeout: no data either way for 3s"])
        // Completions after the idle close change nothing.
        #expect(Self.spliceIn(&h, .up, 10).isEmpty)
    }

    @Test func noIdleDeadlineWhenTheTimeoutIsZero() {
        var h = Harness(SpliceMachine(.passThrough, idleTimeout: 0, pipeSizeLimit: 1 << 20))
        #expect(h.start().contains("deadline none"))
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000_000)) == ["deadline none"])
    }

    @Test func pipesThatCannotBeOpened() {
        var m = SpliceMachine(.passThrough, idleTimeout: 300, pipeSizeLimit: 1 << 20)
        var actions: [TransferAction] = []
        m.handle(.start(now: 0), &actions)
        actions.removeAll()
        m.handle(.pipesFailed("pipe2: Too many open files"), &actions)
        #expect(actions.map(TransferHarness<SpliceMachine>.describe) == ["close error: cannot start splice relay: pipe2: Too many open files"])
        var r = SpliceMachine(.response, idleTimeout: 300, pipeSizeLimit: 1 << 20)
        actions.removeAll()
        r.handle(.start(now: 0), &actions)
        #expect(actions.map(TransferHarness<SpliceMachine>.describe) == ["non-blocking", "open pipe down"])
        actions.removeAll()
        r.handle(.pipesFailed("pipe2: Too many open files"), &actions)
        #expect(actions.map(TransferHarness<SpliceMachine>.describe) == ["close error: cannot start the response relay: pipe2: Too many open files"])
    }

    // MARK: kTLS

    @Test func kTLSEOFIsAFinAndNoCloseNotify() {
        var h = Self.started(.kernelTLS)
        #expect(h.log.contains("path ktls-splice"))
        #expect(Self.spliceIn(&h, .up, 0) == ["end client fin", "shutdown up"])
    }

    /// A record that is not application data stops the splice: it is read by recvmsg.
    static func record(_ h: inout Harness, _ d: TransferDirection, type: UInt8, _ body: [UInt8]) -> [String] {
        #expect(spliceIn(&h, d, -EINVAL) == ["receive record \(d.name)"])
        return body.withUnsafeBufferPointer {
            h.feed(.recordReceived(d, result: Int32(body.count), type: type, body: $0))
        }
    }

    @Test func kTLSARecordWaitsForThePipeToDrain() {
        var h = Self.started(.kernelTLS)
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        // The splice in stops at a record while bytes before it are still going out: it is
        // read once they are, and nothing more is spliced in until it is handled.
        #expect(Self.spliceIn(&h, .down, -EINVAL) == [])
        #expect(Self.spliceOut(&h, .down, 60) == ["moved down 60", "out down 40 after poll"])
        #expect(Self.spliceOut(&h, .down, 40) == ["moved down 40", "receive record down"])
        let ticket: [UInt8] = [4, 0, 0, 1, 0]
        #expect(ticket.withUnsafeBufferPointer { h.feed(.recordReceived(.down, result: 5, type: 22, body: $0)) } == ["in down 65536"])
        // A late record completion, and one in the other direction, change nothing.
        #expect(ticket.withUnsafeBufferPointer { h.feed(.recordReceived(.up, result: 5, type: 22, body: $0)) } == [])
    }

    @Test func kTLSCloseNotifyIsPassedOnThenTheWriteSideShut() {
        var h = Self.started(.kernelTLS)
        // Bytes still in the pipe go first.
        #expect(Self.spliceIn(&h, .down, 100) == ["out down 100", "in down 65436"])
        #expect(Self.spliceOut(&h, .down, 50) == ["moved down 50", "out down 50 after poll"])
        #expect(Self.spliceIn(&h, .down, -EINVAL) == [])
        #expect(Self.spliceOut(&h, .down, 50) == ["moved down 50", "receive record down"])
        let closeNotify: [UInt8] = [1, 0]
        #expect(closeNotify.withUnsafeBufferPointer { h.feed(.recordReceived(.down, result: 2, type: 21, body: $0)) } == [
            "end upstream close_notify", "send alert down 1 close_notify",
        ])
        #expect(h.feed(.recordSent(.down, result: 7)) == ["shutdown down"])
        h.feed(.shutDown(.down))
        #expect(Self.record(&h, .up, type: 21, [1, 0]) == ["end client close_notify", "send alert up 1 close_notify"])
        #expect(h.feed(.recordSent(.up, result: 7)) == ["shutdown up"])
        #expect(h.feed(.shutDown(.up)) == ["close ok: both sides closed"])
    }

    @Test func kTLSFatalAlertIsPassedOnThenEnds() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .down, type: 21, [2, 40]) == ["end upstream alert:handshake_failure", "send alert down 2 handshake_failure"])
        #expect(h.feed(.recordSent(.down, result: 7)) == ["close upstream-gone: upstream sent alert fatal handshake_failure"])
    }

    @Test func kTLSSessionTicketsAreConsumed() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .down, type: 22, [4, 0, 0, 1, 0]) == ["in down 65536"])
    }

    @Test func kTLSKeyUpdateEnds() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .up, type: 22, [24, 0, 0, 1, 0]) == [
            "close error: client sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends",
        ])
        var k = Self.started(.kernelTLS)
        #expect(Self.spliceIn(&k, .down, -EIO) == ["receive record down"])
        #expect(k.feed(.recordReceived(.down, result: -EKEYEXPIRED, type: 0, body: UnsafeBufferPointer(start: nil, count: 0))) == [
            "close error: upstream sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented",
        ])
    }

    @Test func kTLSMalformedAndUnexpectedRecords() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .down, type: 21, [2]) == ["close error: upstream sent a malformed alert"])
        var u = Self.started(.kernelTLS)
        #expect(Self.record(&u, .up, type: 22, [11, 0, 0, 0]) == ["close error: client sent a handshake message of type 11 after the handshake"])
        var c = Self.started(.kernelTLS)
        #expect(Self.record(&c, .up, type: 20, [1]) == ["close error: client sent a record of type 20 after the handshake"])
    }

    @Test func kTLSApplicationDataByRecvmsgGoesOnAsItIs() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .up, type: 23, [1, 2, 3]) == ["forward record up type 23 3"])
        #expect(h.feed(.recordSent(.up, result: 3)) == ["in up 65536"])
    }

    @Test func kTLSEndsAndFailuresByRecvmsg() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .up, type: 23, []) == ["end client fin", "shutdown up"])
        var r = Self.started(.kernelTLS)
        #expect(Self.spliceIn(&r, .down, -EINVAL) == ["receive record down"])
        #expect(r.feed(.recordReceived(.down, result: -EAGAIN, type: 0, body: UnsafeBufferPointer(start: nil, count: 0))) == ["in down 65536"])
        #expect(Self.spliceIn(&r, .down, -EINVAL) == ["receive record down"])
        #expect(r.feed(.recordReceived(.down, result: -EBADMSG, type: 0, body: UnsafeBufferPointer(start: nil, count: 0))) == [
            "end upstream bad-record", "close upstream-gone: upstream: Bad message",
        ])
        var s = Self.started(.kernelTLS)
        _ = Self.record(&s, .down, type: 21, [1, 0])
        #expect(s.feed(.recordSent(.down, result: -EPIPE)) == ["end client reset", "close client-gone: client: Broken pipe"])
    }

    @Test func passThroughTakesEINVALAsAFailure() {
        var h = Self.started(.passThrough)
        #expect(Self.spliceIn(&h, .up, -EINVAL) == ["end client error", "close client-gone: client: Invalid argument"])
    }

    // MARK: Response (plain http)

    @Test func aResponseRelaysDownOnly() {
        var h = Self.started(.response)
        #expect(h.log == ["non-blocking", "open pipe down", "path splice", "deadline 300.0", "in down 65536"])
        #expect(Self.spliceIn(&h, .up, 10).isEmpty)
        #expect(Self.spliceOut(&h, .up, 10).isEmpty)
        #expect(Self.spliceIn(&h, .down, 0) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
    }
}
