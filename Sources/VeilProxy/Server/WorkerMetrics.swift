import VeilWire
/// One worker's counters, kept by its ring thread alone (plain stored numbers: no lock, no
/// atomic, no allocation when they move) and copied out as a `Snapshot` when the metrics
/// endpoint asks through the loop's mailbox; the endpoint sums the workers' snapshots.
/// Connections are counted when they end, from their summary.
final class WorkerMetrics {
    /// Seconds bounds of the duration histograms.
    static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Histogram: Sendable {
        var buckets = [UInt64](repeating: 0, count: WorkerMetrics.bounds.count)
        var count: UInt64 = 0
        var sum: Double = 0

        mutating func observe(_ seconds: Double) {
            count += 1
            sum += seconds
            for i in buckets.indices where seconds <= WorkerMetrics.bounds[i] { buckets[i] += 1 }
        }

        mutating func add(_ other: Histogram) {
            for i in buckets.indices { buckets[i] += other.buckets[i] }
            count += other.count
            sum += other.sum
        }
    }

    struct Snapshot: Sendable {
        var worker = 0
        /// Ended connections by summary mode and `close=` kind: index `mode * kinds + kind`.
        var connections = [UInt64](repeating: 0, count: WorkerMetrics.modes.count * WorkerMetrics.kinds.count)
        var bytesUp: UInt64 = 0
        var bytesDown: UInt64 = 0
        /// Ended connections by data path (`path=`, `-` when none).
        var paths = [UInt64](repeating: 0, count: WorkerMetrics.paths.count)
        /// Userspace intercept relays by who protected the records (veil, openssl).
        var recordsVeil: UInt64 = 0
        var recordsOpenSSL: UInt64 = 0
        var upstreamHandshakes = Histogram()
        var upstreamResumed: UInt64 = 0
        var dnsCacheHits: UInt64 = 0
        var dnsLookups = Histogram()
        /// Connections this worker accepted, on the plain (CONNECT) listener and the HTTPS one.
        var acceptedPlain: UInt64 = 0
        var acceptedTLS: UInt64 = 0
        var openConnections = 0
        var openFronts = 0
    }

    static let modes: [ConnectionSummary.Mode] = [.intercept, .passthrough, .http]
    static let kinds = CloseReason.Kind.allCases
    static let paths: [String] = ["-"] + ConnectionSummary.DataPath.allCases.map(\.rawValue)

    private(set) var counts = Snapshot()

    /// A connection ended: count it from its summary line's fields.
    func connectionEnded(_ s: ConnectionSummary, upstreamHandshakeNanos: UInt64) {
        let mode = WorkerMetrics.modes.firstIndex(of: s.mode) ?? 0
        let kind = WorkerMetrics.kinds.firstIndex(of: s.close?.kind ?? .error) ?? 0
        counts.connections[mode * WorkerMetrics.kinds.count + kind] += 1
        counts.bytesUp &+= s.bytesUp
        counts.bytesDown &+= s.bytesDown
        counts.paths[s.path.flatMap { WorkerMetrics.paths.firstIndex(of: $0.rawValue) } ?? 0] += 1
        if s.records == "veil" { counts.recordsVeil += 1 } else if s.records == "openssl" { counts.recordsOpenSSL += 1 }
        if upstreamHandshakeNanos > 0 {
            counts.upstreamHandshakes.observe(Double(upstreamHandshakeNanos) / 1e9)
            if s.resumed == true { counts.upstreamResumed += 1 }
        }
    }

    /// A client connection was accepted (`tls`: on the HTTPS listener).
    func accepted(tls: Bool) {
        if tls { counts.acceptedTLS += 1 } else { counts.acceptedPlain += 1 }
    }

    /// A name was answered: from the cache at once, or by a lookup that took `seconds`.
    func nameResolved(cached: Bool, seconds: Double?) {
        if cached { counts.dnsCacheHits += 1 }
        if let seconds { counts.dnsLookups.observe(seconds) }
    }

    func snapshot(worker: Int, openConnections: Int, openFronts: Int) -> Snapshot {
        var s = counts
        s.worker = worker
        s.openConnections = openConnections
        s.openFronts = openFronts
        return s
    }
}
