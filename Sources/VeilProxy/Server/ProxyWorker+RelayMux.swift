import VeilRuntime

/// `--relay-mux on`: which relay connection a new tunnel goes on, and the reconnect backoff.
extension ProxyWorker {
    static let relayBackoffFirst = 0.25
    static let relayBackoffMost = 30.0

    /// The connection for a new tunnel: the current one unless it is going away or lost; a new
    /// one otherwise, connecting once the backoff after the last loss has passed.
    func relayMuxFor(_ s: RelayMuxStream) -> RelayMux {
        if let m = relayMux, !m.isRetiring { return m }
        let m = RelayMux(id: shared.makeConnectionID(), relay: s.relay, worker: self, connectAt: relayMuxRetryAt)
        relayMux = m
        relayMuxes[ObjectIdentifier(m)] = m
        m.start()
        return m
    }

    func relayMuxUp(_ m: RelayMux) {
        relayMuxBackoff = 0
        relayMuxRetryAt = 0
        relayMuxLastError = nil
    }

    /// A GOAWAY: the connection drains; new tunnels go to a new one.
    func relayMuxRetiring(_ m: RelayMux) {
        if relayMux === m { relayMux = nil }
    }

    /// The connection was lost: the next one waits for the backoff (doubling from 0.25 s to
    /// 30 s, each wait drawn from 50-100 % of it).
    func relayMuxLost(_ m: RelayMux, reason: String, wasUp: Bool) {
        if relayMux === m { relayMux = nil }
        relayMuxLastError = reason
        relayMuxBackoff = relayMuxBackoff == 0 ? Self.relayBackoffFirst : min(relayMuxBackoff * 2, Self.relayBackoffMost)
        let wait = relayMuxBackoff * Double.random(in: 0.5...1.0)
        relayMuxRetryAt = MonotonicClock.now() &+ wait.nanoseconds
    }
}
