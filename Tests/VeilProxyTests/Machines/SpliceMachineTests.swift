import Testing
@testable import VeilProxy
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The splice relay, fed chain completions with no pipes and no sockets: fill and drain, pipe
/// growth, half-close in either order, failures, idle deadlines, and on kTLS the records that
/// are not application data.
@Suite("SpliceMachine: splice relay, pass-through and kTLS")
struct SpliceMachineTests {
    typealias Harness = TransferHarness<SpliceMachine>

    static func started(_ purpose: SpliceMachine.Purpose, idle: Double = 300, limit: Int = 1 << 20) -> Harness {
        var h = Harness(SpliceMachine(purpose, idleTimeout: idle, pipeSizeLimit: limit))
        _ = h.start()
        return h
    }

    /// One fill chain of `d` completing with these results.
    @discardableResult
    static func fill(_ h: inout Harness, _ d: TransferDirection, in inResult: Int32, out outResult: Int32) -> [String] {
        h.feed(.polled(d)) + h.feed(.splicedIn(d, result: inResult)) + h.feed(.splicedOut(d, result: outResult, now: h.now))
    }

    @discardableResult
    static func drain(_ h: inout Harness, _ d: TransferDirection, out outResult: Int32) -> [String] {
        h.feed(.polled(d)) + h.feed(.splicedOut(d, result: outResult, now: h.now))
    }

    @Test func startsBothDirections() {
        var h = Harness(SpliceMachine(.passThrough, idleTimeout: 300, pipeSizeLimit: 1 << 20))
        #expect(h.start() == ["non-blocking", "open pipes", "path splice", "deadline 300.0", "fill up 65536", "fill down 65536"])
    }

    @Test func bytesGoThroughThePipeAndWhatStaysIsDrained() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .up, in: 1000, out: 1000) == ["moved up 1000", "fill up 65536"])
        // Only part of it got out: the rest is drained before anything more is read.
        #expect(Self.fill(&h, .down, in: 5000, out: 2000) == ["moved down 2000", "drain down 3000"])
        #expect(Self.drain(&h, .down, out: -EAGAIN) == ["drain down 3000"])
        #expect(Self.drain(&h, .down, out: 3000) == ["moved down 3000", "fill down 65536"])
        #expect(h.machine.bytes(.down) == 5000 && h.machine.bytes(.up) == 1000)
        // Completions arrive one by one; nothing happens before the chain's last.
        #expect(h.feed(.polled(.up)).isEmpty)
        #expect(h.feed(.splicedIn(.up, result: -EAGAIN)).isEmpty)
        #expect(h.feed(.splicedOut(.up, result: -EAGAIN, now: h.now)) == ["fill up 65536"])
    }

    @Test func halfCloseClientFirst() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .up, in: 0, out: -EAGAIN) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)).isEmpty)
        // The other direction keeps running.
        #expect(Self.fill(&h, .down, in: 100, out: 100) == ["moved down 100", "fill down 65536"])
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
    }

    @Test func halfCloseUpstreamFirst() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)).isEmpty)
        #expect(Self.fill(&h, .up, in: 10, out: 10) == ["moved up 10", "fill up 65536"])
        #expect(Self.fill(&h, .up, in: 0, out: -EAGAIN) == ["end client tcp-fin", "shutdown up"])
        #expect(h.feed(.shutDown(.up)) == ["close ok: both sides closed"])
    }

    @Test func anEOFWaitsForThePipeToDrain() {
        var h = Self.started(.passThrough)
        // Bytes left in the pipe are drained before the source is read again, and its EOF
        // passed on.
        #expect(Self.fill(&h, .down, in: 100, out: 40) == ["moved down 40", "drain down 60"])
        #expect(Self.drain(&h, .down, out: 60) == ["moved down 60", "fill down 65536"])
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
    }

    @Test func aFullPipeGrowsUpToTheLimit() {
        var h = Self.started(.passThrough, limit: 1 << 20)
        #expect(Self.fill(&h, .up, in: 65536, out: 65536) == ["moved up 65536", "resize pipe up 262144", "fill up 262144"])
        #expect(Self.fill(&h, .up, in: 262144, out: 262144) == ["moved up 262144", "resize pipe up 1048576", "fill up 1048576"])
        // At the limit it is not asked again.
        #expect(Self.fill(&h, .up, in: 1048576, out: 1048576) == ["moved up 1048576", "fill up 1048576"])
        // A partial fill is not a bulk transfer.
        #expect(Self.fill(&h, .down, in: 1000, out: 1000) == ["moved down 1000", "fill down 65536"])
    }

    @Test func aRefusedGrowthIsNotAskedAgain() {
        var h = Self.started(.passThrough)
        h.growPipes = false
        #expect(Self.fill(&h, .down, in: 65536, out: 65536) == ["moved down 65536", "resize pipe down 262144", "fill down 65536"])
        #expect(Self.fill(&h, .down, in: 65536, out: 65536) == ["moved down 65536", "fill down 65536"])
    }

    @Test func aResetWhileReadingBlamesTheSource() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .down, in: -ECONNRESET, out: -EAGAIN) == ["end upstream reset", "close upstream-gone: upstream: Connection reset by peer"])
        // Late completions of the other direction change nothing.
        #expect(Self.fill(&h, .up, in: 10, out: 10).isEmpty)
    }

    @Test func aFailedWriteBlamesTheDestination() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .down, in: 10, out: -EPIPE) == ["end client reset", "close client-gone: client: Broken pipe"])
    }

    @Test func anotherErrorIsAnError() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .up, in: -EIO, out: -EAGAIN) == ["end client error", "close client-gone: client: Input/output error"])
    }

    @Test func theIdleDeadline() {
        var h = Self.started(.passThrough, idle: 3)
        h.advance(seconds: 2)
        Self.fill(&h, .up, in: 10, out: 10)
        #expect(h.feed(.deadlinePassed(now: h.now - 1_000_000_000)) == ["deadline 3.0"])
        h.advance(seconds: 2)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["deadline 5.0"])
        h.advance(seconds: 1)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["close idle-timeout: no data either way for 3s"])
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
        #expect(Self.fill(&h, .up, in: 0, out: -EAGAIN) == ["end client fin", "shutdown up"])
    }

    /// A record that is not application data stops the splice: it is read by recvmsg.
    static func record(_ h: inout Harness, _ d: TransferDirection, type: UInt8, _ body: [UInt8]) -> [String] {
        #expect(fill(&h, d, in: -EINVAL, out: -EAGAIN) == ["receive record \(d.name)"])
        return body.withUnsafeBufferPointer {
            h.feed(.recordReceived(d, result: Int32(body.count), type: type, body: $0))
        }
    }

    @Test func kTLSCloseNotifyIsPassedOnThenTheWriteSideShut() {
        var h = Self.started(.kernelTLS)
        // Bytes still in the pipe go first.
        #expect(Self.fill(&h, .down, in: 100, out: 50) == ["moved down 50", "drain down 50"])
        #expect(Self.drain(&h, .down, out: 50) == ["moved down 50", "fill down 65536"])
        #expect(Self.record(&h, .down, type: 21, [1, 0]) == ["end upstream close_notify", "send alert down 1 close_notify"])
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
        #expect(Self.record(&h, .down, type: 22, [4, 0, 0, 1, 0]) == ["fill down 65536"])
    }

    @Test func kTLSKeyUpdateEnds() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .up, type: 22, [24, 0, 0, 1, 0]) == [
            "close error: client sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends",
        ])
        var k = Self.started(.kernelTLS)
        #expect(Self.fill(&k, .down, in: -EIO, out: -EAGAIN) == ["receive record down"])
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
        #expect(h.feed(.recordSent(.up, result: 3)) == ["fill up 65536"])
    }

    @Test func kTLSEndsAndFailuresByRecvmsg() {
        var h = Self.started(.kernelTLS)
        #expect(Self.record(&h, .up, type: 23, []) == ["end client fin", "shutdown up"])
        var r = Self.started(.kernelTLS)
        #expect(Self.fill(&r, .down, in: -EINVAL, out: -EAGAIN) == ["receive record down"])
        #expect(r.feed(.recordReceived(.down, result: -EAGAIN, type: 0, body: UnsafeBufferPointer(start: nil, count: 0))) == ["fill down 65536"])
        #expect(Self.fill(&r, .down, in: -EINVAL, out: -EAGAIN) == ["receive record down"])
        #expect(r.feed(.recordReceived(.down, result: -EBADMSG, type: 0, body: UnsafeBufferPointer(start: nil, count: 0))) == [
            "end upstream bad-record", "close upstream-gone: upstream: Bad message",
        ])
        var s = Self.started(.kernelTLS)
        _ = Self.record(&s, .down, type: 21, [1, 0])
        #expect(s.feed(.recordSent(.down, result: -EPIPE)) == ["end client reset", "close client-gone: client: Broken pipe"])
    }

    @Test func passThroughTakesEINVALAsAFailure() {
        var h = Self.started(.passThrough)
        #expect(Self.fill(&h, .up, in: -EINVAL, out: -EAGAIN) == ["end client error", "close client-gone: client: Invalid argument"])
    }

    // MARK: Response (plain http)

    @Test func aResponseRelaysDownOnly() {
        var h = Self.started(.response)
        #expect(h.log == ["non-blocking", "open pipe down", "path splice", "deadline 300.0", "fill down 65536"])
        #expect(Self.fill(&h, .up, in: 10, out: 10).isEmpty)
        #expect(Self.fill(&h, .down, in: 0, out: -EAGAIN) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
    }
}
