import VeilWire
/// The Prometheus text exposition format (version 0.0.4) of the workers' snapshots summed,
/// plus the process-wide figures (certificates).
enum MetricsText {
    struct Process: Sendable {
        var certificatesMinted: UInt64 = 0
        var certificateCacheHits: UInt64 = 0
        /// Workers that answered the scrape, of all.
        var workersAnswered = 0
        var workers = 0
    }

    static func render(_ snapshots: [WorkerMetrics.Snapshot], _ process: Process) -> String {
        var total = WorkerMetrics.Snapshot()
        for s in snapshots {
            for i in total.connections.indices { total.connections[i] += s.connections[i] }
            for i in total.paths.indices { total.paths[i] += s.paths[i] }
            total.bytesUp += s.bytesUp
            total.bytesDown += s.bytesDown
            total.recordsVeil += s.recordsVeil
            total.recordsOpenSSL += s.recordsOpenSSL
            total.upstreamHandshakes.add(s.upstreamHandshakes)
            total.upstreamResumed += s.upstreamResumed
            total.dnsCacheHits += s.dnsCacheHits
            total.dnsLookups.add(s.dnsLookups)
        }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("veil_connections_total", "counter", "Connections ended, by mode and close reason (the summary line's mode= and close=).")
        for (m, mode) in WorkerMetrics.modes.enumerated() {
            for (k, kind) in WorkerMetrics.kinds.enumerated() {
                let n = total.connections[m * WorkerMetrics.kinds.count + k]
                out += "veil_connections_total{mode=\"\(mode.rawValue)\",close=\"\(kind.rawValue)\"} \(n)\n"
            }
        }
        family("veil_bytes_total", "counter", "Bytes relayed by ended connections (up: client to upstream, down: upstream to client).")
        out += "veil_bytes_total{direction=\"up\"} \(total.bytesUp)\n"
        out += "veil_bytes_total{direction=\"down\"} \(total.bytesDown)\n"
        family("veil_data_path_total", "counter", "Ended connections by how their data moved (path=; '-' when it never flowed).")
        for (i, path) in WorkerMetrics.paths.enumerated() {
            out += "veil_data_path_total{path=\"\(path)\"} \(total.paths[i])\n"
        }
        family("veil_record_layer_total", "counter", "Intercepted connections relayed in userspace, by who protected the records.")
        out += "veil_record_layer_total{records=\"veil\"} \(total.recordsVeil)\n"
        out += "veil_record_layer_total{records=\"openssl\"} \(total.recordsOpenSSL)\n"
        histogram(&out, "veil_upstream_handshake_seconds", "Intercept: duration of Veil's TLS handshake with the upstream.",
                  total.upstreamHandshakes)
        family("veil_upstream_resumed_total", "counter", "Intercept: upstream handshakes that resumed a cached session.")
        out += "veil_upstream_resumed_total \(total.upstreamResumed)\n"
        family("veil_dns_cache_hits_total", "counter", "Names answered from the out-of-band resolver's cache.")
        out += "veil_dns_cache_hits_total \(total.dnsCacheHits)\n"
        histogram(&out, "veil_dns_lookup_seconds", "Names the out-of-band resolver had to look up: time to the answer.",
                  total.dnsLookups)
        family("veil_certificates_minted_total", "counter", "Certificates minted by Veil's CA.")
        out += "veil_certificates_minted_total \(process.certificatesMinted)\n"
        family("veil_certificate_cache_hits_total", "counter", "Certificates reused from a cache instead of minted.")
        out += "veil_certificate_cache_hits_total \(process.certificateCacheHits)\n"
        family("veil_open_connections", "gauge", "Connections open on each worker (fronts: HTTPS-listener clients before their connection).")
        for s in snapshots.sorted(by: { $0.worker < $1.worker }) {
            out += "veil_open_connections{worker=\"\(s.worker)\",kind=\"connection\"} \(s.openConnections)\n"
            out += "veil_open_connections{worker=\"\(s.worker)\",kind=\"front\"} \(s.openFronts)\n"
        }
        family("veil_accepted_total", "counter", "Client connections accepted by each worker, by listener (connect: the plain listener; https: the HTTPS listener or veil relay's).")
        for s in snapshots.sorted(by: { $0.worker < $1.worker }) {
            out += "veil_accepted_total{worker=\"\(s.worker)\",listener=\"connect\"} \(s.acceptedPlain)\n"
            out += "veil_accepted_total{worker=\"\(s.worker)\",listener=\"https\"} \(s.acceptedTLS)\n"
        }
        family("veil_workers_answering", "gauge", "Workers that answered this scrape within a second (of veil_workers).")
        out += "veil_workers_answering \(process.workersAnswered)\n"
        family("veil_workers", "gauge", "Worker threads.")
        out += "veil_workers \(process.workers)\n"
        return out
    }

    private static func histogram(_ out: inout String, _ name: String, _ help: String, _ h: WorkerMetrics.Histogram) {
        out += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
        for (i, bound) in WorkerMetrics.bounds.enumerated() {
            out += "\(name)_bucket{le=\"\(bound)\"} \(h.buckets[i])\n"
        }
        out += "\(name)_bucket{le=\"+Inf\"} \(h.count)\n"
        out += "\(name)_sum \(h.sum)\n"
        out += "\(name)_count \(h.count)\n"
    }
}
