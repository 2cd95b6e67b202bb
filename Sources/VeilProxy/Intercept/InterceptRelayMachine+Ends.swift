import VeilRuntime
import VeilTLS

/// How the ends of an intercepted connection's two TLS sessions are passed on.
///
/// Only an authenticated end becomes close_notify on the other leg: the peer's own close_notify.
/// An end without one (a FIN at a record boundary, a FIN inside a record) reaches the other side
/// as a bare FIN: Veil's write side is shut with no close_notify before it, so a truncated body
/// stays visibly truncated (the peer's TLS reports an unexpected EOF). A record Veil refuses is
/// answered with a fatal alert to its sender, sealed with that leg's keys, before the connection
/// closes. The summary says how each side ended (`client_end=`, `upstream_end=`: StreamEnd).
///
/// Through the HTTPS listener or a relay tunnel the socket is a socketpair to a `TLSFront`: the
/// `.shutdownWrite` after an authenticated end says so, and the owner tells the front, which only
/// then sends close_notify on its outer session (see TLSFront+Transfer).
extension InterceptRelayMachine {
    /// `src` sent close_notify: it ends, and so does Veil's side towards the other leg, with
    /// close_notify.
    mutating func passCloseNotify(_ r: InterceptRelay, from src: TransferSide, _ actions: inout [Action]) {
        if r[src.outgoing].sourceEnded(.closeNotify) { actions.append(.note(.end(src, .closeNotify))) }
        passEnd(r, to: src.other, authenticated: true)
    }

    /// `src`'s socket reached EOF with no close_notify (`midRecord`: inside a record): Veil's
    /// side towards the other leg ends with a bare FIN, never close_notify.
    mutating func passUnauthenticatedEnd(_ r: InterceptRelay, from src: TransferSide, midRecord: Bool, _ actions: inout [Action]) {
        let end: StreamEnd = midRecord ? .finMidRecord : .fin
        if r[src.outgoing].sourceEnded(end) { actions.append(.note(.end(src, end))) }
        passEnd(r, to: src.other, authenticated: false)
    }

    /// Queues the end of Veil's side towards `side`: close_notify when the end passed on was
    /// authenticated (sealed by Veil after the takeover, by OpenSSL before), else nothing; either
    /// way `flush` shuts the write side once everything queued is out.
    func passEnd(_ r: InterceptRelay, to side: TransferSide, authenticated: Bool) {
        guard r[side.incoming].queueEnd(authenticated: authenticated) else { return }
        let engine = r.leg(side).engine
        if case .veil = r.records {
            if authenticated { _ = sealOwn(r, side, type: TLSContentType.alert.rawValue, TLSAlert.closeNotify.bytes) }
        } else if authenticated {
            engine.close()
        } else {
            engine.endWithoutCloseNotify()
        }
    }

    /// A side's TLS session cannot go on: the connection ends, naming the side. When its peer
    /// sent a record Veil (`alert`, sealed here with the leg's keys) or OpenSSL (queued already)
    /// refuses, that fatal alert goes out first, after what was queued before it, within a second.
    mutating func sessionFailed(_ r: InterceptRelay, _ side: TransferSide, _ why: String, end: StreamEnd,
                                alert: UInt8? = nil, _ actions: inout [Action]) {
        actions.append(.note(.end(side, end)))
        var sent: UInt8?
        if let alert, r[side.incoming].sinkOpen,
           sealOwn(r, side, type: TLSContentType.alert.rawValue, TLSAlert.fatal(alert).bytes) {
            sent = alert
        }
        let cause = InterceptRelayClose.sessionFailed(side, why, alertSent: sent)
        guard end == .badRecord, !r[side.incoming].sinkClosing, r.leg(side).engine.outbound.readable > 0 else {
            close(cause, &actions)
            return
        }
        let deadline = now &+ InterceptRelayMachine.alertLinger
        state = .alerting(r, to: side, cause, deadline: deadline)
        actions.append(.setDeadline(deadline))
        flush(r, side, &actions)
    }
}
