import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// After the workers have stopped: clients the kernel accepted into a listener's queue since
/// the last worker stopped accepting are answered (503 on the plain listener, a fatal alert on
/// the HTTPS listener, which has no TLS session left to answer in) and each gets its summary
/// line, written directly. Each listener (one per worker, an SO_REUSEPORT group) is drained and
/// then closed, one after the other: a client arriving meanwhile goes to a listener of the group
/// still open and is answered when that one is drained. Only a client that connects in the
/// moment between draining the group's last listener and closing it is reset by the kernel.
struct ShutdownBacklog {
    let config: ProxyConfiguration
    let recordLogFD: Int32
    let nextID: () -> UInt64

    /// `listenFDs`, `tlsListenFDs`: every worker's listening socket of each listener; all are
    /// closed on return.
    func refuseAndClose(listenFDs: [Int32], tlsListenFDs: [Int32]) {
        let answer = HTTPStatusResponse(status: .serviceUnavailable, reason: "proxy shutting down").bytes
        for listenFD in listenFDs {
            drain(listenFD, answer: answer, reason: "refused: proxy shutting down")
            Socket.close(listenFD)
        }
        for tlsListenFD in tlsListenFDs {
            // A TLS alert record (fatal internal_error) before any handshake.
            drain(tlsListenFD, answer: [21, 0x03, 0x03, 0x00, 0x02, 2, 80],
                  reason: "refused: proxy shutting down (HTTPS listener: a fatal alert, no TLS session left to answer in)")
            Socket.close(tlsListenFD)
        }
    }

    private func drain(_ listenFD: Int32, answer: [UInt8], reason: String) {
        while let fd = Socket.acceptQueued(listenFD) {
            let started = MonotonicClock.now()
            let peer = Socket.peerAddress(fd)?.description ?? "?"
            Socket.answerAndClose(fd, answer)
            guard config.recordLog != .off else { continue }
            var summary = ConnectionSummary(id: nextID(), started: started, client: peer, mode: config.mode)
            summary.close = CloseReason(.shutdown, reason)
            let line = summary.line(format: config.logFormat, now: MonotonicClock.now()) + "\n"
            _ = line.withCString { write(recordLogFD, $0, strlen($0)) }
        }
    }
}
