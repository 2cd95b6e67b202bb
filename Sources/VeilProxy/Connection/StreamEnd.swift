import VeilResolver
import VeilWire
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// How one side's stream towards Veil ended, as the summary line says it: `client_end=` and
/// `upstream_end=` (the connection's own sockets), `front_end=` (the HTTPS listener's outer
/// session) and `tunnel_end=` (the relay's side of a `--route tunnel` session).
///
/// Only `close_notify` is an authenticated end: Veil passes it on as close_notify. Every other
/// end reaches the other side as one that is not: a bare FIN (the write side shut with no
/// close_notify before it), or the connection closing.
enum StreamEnd: Equatable {
    /// The peer sent close_notify.
    case closeNotify
    /// TCP FIN at a record boundary with no close_notify before it: the data may be truncated.
    case fin
    /// TCP FIN inside a record: part of a record was never completed.
    case finMidRecord
    /// Pass-through: the TCP stream ended (FIN); the TLS inside is the endpoints' own, so whether
    /// a close_notify came first is not Veil's to see. Passed on as a FIN.
    case tcpFin
    /// The peer sent an alert other than close_notify (its code).
    case alert(UInt8)
    /// A record from the peer did not authenticate, was too long or malformed, or was not allowed
    /// there: Veil answered it with a fatal alert (the reason names both).
    case badRecord
    /// The connection was reset (ECONNRESET or EPIPE).
    case reset
    /// Another socket error (the reason names it).
    case error

    /// The token on the summary line.
    var token: String {
        switch self {
        case .closeNotify: "close_notify"
        case .fin: "fin"
        case .finMidRecord: "fin-mid-record"
        case .tcpFin: "tcp-fin"
        case .alert(let code): "alert:" + TLSAlert.name(for: code)
        case .badRecord: "bad-record"
        case .reset: "reset"
        case .error: "error"
        }
    }

    /// A socket operation failed with `-result` (on kTLS, EBADMSG and EMSGSIZE: the kernel
    /// refused a record; it sends no alert, and the socket can send none after that).
    static func failure(_ result: Int32) -> StreamEnd {
        switch -result {
        case ECONNRESET, EPIPE: .reset
        case EBADMSG, EMSGSIZE: .badRecord
        default: .error
        }
    }

    /// An OpenSSL read failure: an alert the peer sent (OpenSSL notes "SSL alert number N"), or
    /// a record OpenSSL refused (it queued the fatal alert for the peer itself).
    static func opensslFailure(_ reason: String) -> StreamEnd {
        let marker = "SSL alert number "
        guard let range = reason.firstRange(of: marker) else { return .badRecord }
        let digits = reason[range.upperBound...].prefix { $0.isNumber }
        return UInt8(digits).map { .alert($0) } ?? .badRecord
    }
}
