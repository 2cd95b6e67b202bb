import VeilResolver
import VeilWire
import Synchronization
import VeilRuntime
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// `--metrics ADDR:PORT`: `GET /metrics` (Prometheus text format) and `GET /healthz` on a
/// control-plane thread of its own, never a ring thread. A scrape asks every worker for its
/// counters through the loop's mailbox and sums what comes back within a second; `/healthz`
/// is `200 ok` when every worker answered, else `503`. Requests are served one at a time.
final class MetricsServer: Sendable {
    let fd: Int32
    let address: SocketAddress
    private let remotes: [LoopRemote]
    private let interception: Interception?
    private let stopping = Atomic<Bool>(false)

    init(fd: Int32, address: SocketAddress, remotes: [LoopRemote], interception: Interception?) {
        self.fd = fd
        self.address = address
        self.remotes = remotes
        self.interception = interception
    }

    func start() {
        Thread.detach { [self] in serve() }
    }

    /// Stops serving (the thread leaves within half a second); the caller closes `fd`.
    func stop() { stopping.store(true, ordering: .relaxed) }

    private func serve() {
        while !stopping.load(ordering: .relaxed) {
            guard (try? Socket.wait(fd, for: .readable, timeoutMillis: 500)) == true,
                  let client = Socket.acceptQueued(fd) else { continue }
            answer(client)
            Socket.close(client)
        }
    }

    private func answer(_ client: Int32) {
        Socket.setReceiveTimeout(client, seconds: 2)
        // The socket inherited O_NONBLOCK from the listener: wait for the request with poll.
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while head.count < 8192, !head.ends(with: [13, 10, 13, 10]), !head.ends(with: [10, 10]) {
            guard (try? Socket.wait(client, for: .readable, timeoutMillis: 2000)) == true else { return }
            let n = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { Socket.receive(client, into: $0, count: raw.count) } ?? -1
            }
            guard n > 0 else { return }
            head += buffer[0..<n]
        }
        let line = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count >= 2 ? String(parts[1]) : ""
        let method = parts.first.map(String.init) ?? ""
        var status = "200 OK"
        var body: String
        var type = "text/plain; charset=utf-8"
        if method != "GET" && method != "HEAD" {
            status = "405 Method Not Allowed"
            body = "GET /metrics or /healthz\n"
        } else if path == "/metrics" {
            let (snapshots, process) = collect()
            body = MetricsText.render(snapshots, process)
            type = "text/plain; version=0.0.4; charset=utf-8"
        } else if path == "/healthz" {
            let (_, process) = collect()
            let healthy = process.workersAnswered == process.workers
            status = healthy ? "200 OK" : "503 Service Unavailable"
            body = healthy ? "ok\n" : "\(process.workers - process.workersAnswered) of \(process.workers) workers did not answer\n"
        } else {
            status = "404 Not Found"
            body = "GET /metrics or /healthz\n"
        }
        let bodyBytes = method == "HEAD" ? [] : Array(body.utf8)
        let response = Array("HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n".utf8) + bodyBytes
        _ = Socket.sendAll(client, response, timeoutMillis: 2000)
    }

    /// Every worker's counters (those that answer within a second), and the process's own.
    private func collect() -> ([WorkerMetrics.Snapshot], MetricsText.Process) {
        let answers = Mutex<[WorkerMetrics.Snapshot]>([])
        let done = DispatchSemaphore(value: 0)
        for remote in remotes {
            remote.run { loop in
                if let worker = loop.context as? ProxyWorker {
                    let s = worker.metricsSnapshot()
                    answers.withLock { $0.append(s) }
                }
                done.signal()
            }
        }
        let deadline = DispatchTime.now() + .seconds(1)
        var answered = 0
        for _ in remotes where done.wait(timeout: deadline) == .success { answered += 1 }
        var process = MetricsText.Process()
        process.workers = remotes.count
        process.workersAnswered = answered
        if let interception {
            let s = interception.minter.stats()
            process.certificatesMinted = UInt64(s.mints)
            process.certificateCacheHits = UInt64(s.hits) + UInt64(interception.workerCacheHits.load(ordering: .relaxed))
        }
        return (answers.withLock { $0 }, process)
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
