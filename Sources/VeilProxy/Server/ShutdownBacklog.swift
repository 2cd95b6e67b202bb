import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// After the workers have stopped: clients the kernel accepted into a listener's queue since
/// the last worker stopped accepting are answered (503 on the plain listener, a fatal alert on
/// the HTTPS listener, which has no TLS session left to answer in) and each gets its summary
/// line, written directly. Only a client that connects in the moment between this and closing
/// the listener is reset by the kernel.
struct ShutdownBacklog {
    let config: ProxyConfiguration
    let recordLogFD: Int32
    let nextID: () -> UInt64

    func refuse(listenFD: Int32, tlsListenFD: Int32) {
        if listenFD >= 0 {
            let answer = HTTPStatusResponse(status: .serviceUnavailable, reason: "proxy shutting down").bytes
            drain(listenFD, answer: answer, reason: "refused: proxy shutting down")
        }
        if tlsListenFD >= 0 {
            // A TLS alert record (fatal internal_error) before any handshake.
            drain(tlsListenFD, answer: [21, 0x03, 0x03, 0x00, 0x02, 2, 80],
                  reason: "refused: proxy shutting down (HTTPS listener: a fatal alert, no TLS session left to answer in)")
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
