import VeilWire
/// A connection's summary line that waits for the fronts still carrying it (the HTTPS
/// listener's outer session, a relay tunnel's session): they may see their peer's end after the
/// connection has ended, and the line says how each ended (`front_end=`, `tunnel_end=`). Written
/// (and counted in the metrics) when the last of them ends.
final class PendingSummary {
    var summary: ConnectionSummary
    let upstreamHandshakeNanos: UInt64
    private var holders: Int

    init(_ summary: ConnectionSummary, upstreamHandshakeNanos: UInt64, holders: Int) {
        self.summary = summary
        self.upstreamHandshakeNanos = upstreamHandshakeNanos
        self.holders = holders
    }

    /// One holder is done; the last one writes the line.
    func release(_ worker: ProxyWorker) {
        holders -= 1
        if holders == 0 { worker.connectionSummary(summary, upstreamHandshakeNanos: upstreamHandshakeNanos) }
    }
}
