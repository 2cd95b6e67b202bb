import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `--route tunnel`: the target is neither resolved nor connected to here. The upstream socket is
/// one end of a socketpair whose other end a `RelayTunnel` carries, inside TLS, to the Veil
/// relay; everything after the `200` (intercept or pass-through) runs unchanged on top of it.
extension Connection {
    func startTunnel(to target: HostPort) {
        guard let relay = config.relay else { return }
        summary.route = .tunnel
        summary.relay = relay.address.description
        let pair: (Int32, Int32)
        do { pair = try Socket.pair() } catch {
            reply(.badGateway, CloseReason(.error, "tunnel: \(error)"))
            return
        }
        upstreamFD = pair.0
        phase = .connecting
        // The tunnel keeps the deadline (connect, TLS and the relay's answer).
        armDeadline(after: 0)
        relayTunnel = worker.startTunnel(id: id, fd: pair.1, target: target, relay: relay, connection: self)
    }

    /// The relay answered 200: the socketpair now leads to the target. `path` is how the TLS
    /// to the relay moves (`ktls` or `userspace`), `note` why not kTLS when it was wanted.
    func tunnelEstablished(path: ConnectionSummary.DataPath, note: String?) {
        guard phase == .connecting else { return }
        summary.tunnelPath = path
        summary.tunnelNote = note
        upstreamReady()
    }

    /// The tunnel could not be set up; `reason` says why (the relay's own answer when it gave one).
    func tunnelFailed(_ status: HTTPStatusResponse.Status, _ reason: CloseReason) {
        guard phase == .connecting else { return }
        reply(status, reason)
    }
}
