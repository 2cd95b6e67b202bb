import Testing
@testable import VeilProxy
import VeilWire
import VeilResolver
#if canImport(Glibc)
import Glibc
#endif

/// The summary's `client_end=` / `upstream_end=` / `front_end=` / `tunnel_end=` tokens, and how
/// failures map onto them.
@Suite struct StreamEndTests {
    @Test func tokens() {
        #expect(StreamEnd.closeNotify.token == "close_notify")
        #expect(StreamEnd.fin.token == "fin")
        #expect(StreamEnd.finMidRecord.token == "fin-mid-record")
        #expect(StreamEnd.tcpFin.token == "tcp-fin")
        #expect(StreamEnd.alert(48).token == "alert:unknown_ca")
        #expect(StreamEnd.badRecord.token == "bad-record")
        #expect(StreamEnd.reset.token == "reset")
        #expect(StreamEnd.error.token == "error")
    }

    @Test func socketFailures() {
        #expect(StreamEnd.failure(-ECONNRESET) == .reset)
        #expect(StreamEnd.failure(-EPIPE) == .reset)
        #expect(StreamEnd.failure(-EBADMSG) == .badRecord)  // kTLS: the kernel refused a record
        #expect(StreamEnd.failure(-ETIMEDOUT) == .error)
    }

    /// OpenSSL 3.0's own wording: a received alert carries "SSL alert number N"; a record it
    /// refused does not (it queued the fatal alert for the peer itself).
    @Test func opensslFailures() {
        #expect(StreamEnd.opensslFailure("read: error:0A000418:SSL routines::tlsv1 alert unknown ca (SSL alert number 48)")
                == .alert(48))
        #expect(StreamEnd.opensslFailure("read: error:0A000119:SSL routines::decryption failed or bad record mac")
                == .badRecord)
    }
}
