import Testing
@testable import VeilProxy

@Suite("StreamDirection: half-close bookkeeping")
struct StreamDirectionTests {
    @Test func anAuthenticatedEndIsPassedOnAsOne() {
        var d = StreamDirection()
        #expect(d.sourceOpen && d.sinkOpen && !d.isDone)
        let first = d.sourceEnded(.closeNotify)
        let second = d.sourceEnded(.fin)  // the first end counts
        #expect(first && !second)
        #expect(d.sourceEnd == .closeNotify)
        let queued = d.queueEnd(authenticated: d.sourceEnd == .closeNotify)
        let again = d.queueEnd(authenticated: false)
        #expect(queued && !again)
        d.shutdownSubmitted()
        #expect(d.sinkClosing && !d.isDone)
        d.shutdownDone()
        #expect(d.isDone && d.endAuthenticated)
    }

    @Test func aBareFinStaysUnauthenticated() {
        var d = StreamDirection()
        d.sourceEnded(.finMidRecord)
        d.queueEnd(authenticated: false)
        d.sending = true
        d.shutdownSubmitted()
        d.shutdownDone()
        #expect(!d.isDone)  // a send still in flight
        d.sending = false
        #expect(d.isDone && !d.endAuthenticated)
    }

    @Test func anEOFIsJudgedOnceWhatCameBeforeItIsRead() {
        var d = StreamDirection()
        let first = d.transportEnded()
        let again = d.transportEnded()
        #expect(first && !again)
        #expect(!d.sourceOpen && d.inputEnded && d.sourceEnd == nil)
        // The buffered bytes held a close_notify: that is how the stream ended.
        let ended = d.sourceEnded(.closeNotify)
        #expect(ended)
        #expect(d.sourceEnd == .closeNotify)
        let tooLate = d.transportEnded()  // too late to say anything else
        let second = d.sourceEnded(.fin)
        #expect(!tooLate && !second)
        #expect(d.sourceEnd == .closeNotify)
    }

    @Test func bytesAreCounted() {
        var d = StreamDirection()
        d.moved(5)
        d.moved(0)
        d.moved(-1)
        #expect(d.bytes == 5)
    }
}
