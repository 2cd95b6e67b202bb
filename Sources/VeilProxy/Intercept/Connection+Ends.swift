import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// How the ends of an intercepted connection's two TLS sessions are passed on.
///
/// Only an authenticated end becomes close_notify on the other leg: the peer's own close_notify.
/// An end without one (a FIN at a record boundary, a FIN inside a record) reaches the other side
/// as a bare FIN: Veil's write side is shut with no close_notify before it, so a truncated body
/// stays visibly truncated (the peer's TLS reports an unexpected EOF). A record Veil refuses is
/// answered with a fatal alert to its sender, sealed with that leg's keys, before the connection
/// closes. The summary says how each side ended (`client_end=`, `upstream_end=`: StreamEnd).
///
/// Through the HTTPS listener or a relay tunnel the socket is a socketpair to a `TLSFront`:
/// when Veil shuts that write side after passing on an authenticated end, the front is told, and
/// only then sends close_notify on its outer session (see TLSFront+Transfer).
extension Connection {
    /// Notes how one side ended; the first end seen counts.
    func noteEnd(client: Bool, _ end: StreamEnd) {
        if client {
            if summary.clientEnd == nil { summary.clientEnd = end }
        } else if summary.upstreamEnd == nil {
            summary.upstreamEnd = end
        }
    }

    func noteEnd(_ leg: TLSLeg, _ end: StreamEnd) { noteEnd(client: leg === clientLeg, end) }

    /// A socket operation on one side failed with `result`: notes the end, and the close reason.
    func gone(client: Bool, result: Int32) -> CloseReason {
        noteEnd(client: client, .failure(result))
        return .peerFailed(client: client, result: result)
    }

    /// `src` sent close_notify: it ends, and so does Veil's side towards `dst`, with close_notify.
    func passCloseNotify(from src: TLSLeg, to dst: TLSLeg) {
        src.closeNotify = true
        noteEnd(src, .closeNotify)
        passEnd(to: dst, authenticated: true)
    }

    /// `src`'s socket reached EOF with no close_notify (`midRecord`: inside a record): Veil's side
    /// towards `dst` ends with a bare FIN, never close_notify.
    func passUnauthenticatedEnd(from src: TLSLeg, to dst: TLSLeg, midRecord: Bool) {
        noteEnd(src, midRecord ? .finMidRecord : .fin)
        passEnd(to: dst, authenticated: false)
    }

    /// Queues the end of Veil's side towards `leg`: close_notify when the end passed on was
    /// authenticated (sealed by Veil after the takeover, by OpenSSL before), else nothing; either
    /// way `flush` shuts the write side once everything queued is out.
    func passEnd(to leg: TLSLeg, authenticated: Bool) {
        guard !leg.closeQueued else { return }
        leg.closeQueued = true
        leg.closeNotifyQueued = authenticated
        if authenticated {
            if leg.sealer != nil {
                _ = sealOwn(leg, type: TLSContentType.alert.rawValue, TLSAlert.closeNotify.bytes)
            } else {
                leg.engine.close()
            }
        } else if leg.sealer == nil {
            leg.engine.endWithoutCloseNotify()
        }
    }

    /// The write side of `leg`'s socket is about to be shut after its queued end: a front carrying
    /// that socket learns whether the end was authenticated.
    func writeSideShutting(_ leg: TLSLeg) {
        guard leg.closeNotifyQueued else { return }
        (leg === clientLeg ? clientFront : upstreamFront)?.bridgeEndAuthenticated = true
    }

    /// A leg's TLS session cannot go on: the connection ends, naming the leg. When the leg's peer
    /// sent a record Veil (`alert`, sealed here with the leg's keys) or OpenSSL (queued already)
    /// refuses, that fatal alert goes out first, after what was queued before it, within a second.
    func legFailed(_ leg: TLSLeg, _ why: String, end: StreamEnd, alert: UInt8? = nil) {
        let isClient = leg === clientLeg
        noteEnd(client: isClient, end)
        var reason = CloseReason(isClient ? .clientGone : .upstreamGone, "\(isClient ? "client" : "upstream"): \(why)")
        if let alert, leg.sealer != nil, !leg.closeQueued, sealOwn(leg, type: TLSContentType.alert.rawValue, TLSAlert.fatal(alert).bytes) {
            reason.reason += " (sent alert fatal \(TLSAlert.name(for: alert)))"
        }
        guard end == .badRecord, phase == .interceptRelay || phase == .mixedRelay, !leg.writeShut,
              leg.engine.outbound.readable > 0 else {
            finish(reason)
            return
        }
        pendingClose = reason
        leg.alerting = true
        phase = .lingering
        armDeadline(after: 1)
        flush(leg)
    }

    /// After a send while an alert is on its way out (phase `.lingering`).
    func alertProgress(_ leg: TLSLeg) {
        guard leg.alerting else { return }
        if leg.engine.outbound.readable > 0 {
            flush(leg)
        } else {
            finish(pendingClose ?? CloseReason(.error, "alert sent"))
        }
    }
}
