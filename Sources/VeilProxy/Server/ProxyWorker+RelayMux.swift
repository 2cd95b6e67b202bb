import VeilRuntime

/// `--relay-mux on`: which relay connection a tunnel goes on. Relays are picked by
/// `relayChoice` (spread over the relays that are up; a relay whose connection was lost is down
/// for its backoff, 0.25 s doubling to 30 s with jitter), one connection per relay at a time.
extension ProxyWorker {
    /// The connection for a tunnel: its relay's (`relayMux(for:)`). A tunnel coming back (its
    /// connection was lost or went away before its answer) goes to a relay it has not tried, if
    /// there is one.
    func relayMuxFor(_ s: RelayMuxStream) -> RelayMux {
        if s.attached, let next = relayChoice.pick(now: MonotonicClock.now(), tried: s.tried) {
            s.relayIndex = next
            s.tried |= RelayChoice.bit(next)
            s.connection?.summary.relay = config.relays[next].address.description
        }
        s.attached = true
        return relayMux(for: s.relayIndex)
    }

    /// Relay `i`'s connection: its current one unless that is going away or lost; a new one
    /// otherwise, connecting once the relay's backoff has passed.
    func relayMux(for i: Int) -> RelayMux {
        if let m = relayMux[i], !m.isRetiring { return m }
        let m = RelayMux(id: shared.makeConnectionID(), relayIndex: i, worker: self,
                         connectAt: relayChoice.health[i].downUntil)
        relayMux[i] = m
        relayMuxes[ObjectIdentifier(m)] = m
        m.start()
        return m
    }

    func relayMuxUp(_ m: RelayMux) {
        relayChoice.succeeded(m.relayIndex)
    }

    /// A GOAWAY: the connection drains; new tunnels go to a new one.
    func relayMuxRetiring(_ m: RelayMux) {
        if relayMux[m.relayIndex] === m { relayMux[m.relayIndex] = nil }
    }

    /// The connection was lost: its relay is down for its backoff.
    func relayMuxLost(_ m: RelayMux, reason: String, wasUp: Bool) {
        if relayMux[m.relayIndex] === m { relayMux[m.relayIndex] = nil }
        relayChoice.failed(m.relayIndex, reason: reason, now: MonotonicClock.now())
    }

    /// Why relay `i`'s last connection was lost (for tunnels that time out waiting).
    func relayLastError(_ i: Int) -> String? { relayChoice.health.indices.contains(i) ? relayChoice.health[i].lastError : nil }

    /// A name query for the resolver (`RelayMuxQueries`) on relay `relay`'s connection.
    func startRelayQuery(relay: Int, host: String, port: UInt16, https: Bool, timeout: Double,
                         reply: @escaping RelayMuxQuery.Reply) {
        guard !shuttingDown else {
            reply(.failure(.init("relay \(config.relays[relay].address): shutting down")))
            return
        }
        let q = RelayMuxQuery(relayIndex: relay, host: host, port: port, https: https, timeout: timeout, worker: self, reply: reply)
        relayQueries[ObjectIdentifier(q)] = q
        q.start()
    }

    func relayQueryFinished(_ q: RelayMuxQuery) {
        relayQueries[ObjectIdentifier(q)] = nil
    }
}
