/// Who is at the other end of an outer TLS session: the HTTPS listener's client, or (a
/// `--route tunnel` session handed over once the relay answered 200) the relay. Reasons name it,
/// and its failures close the connection as `client-gone` or `relay-failed`.
enum OuterPeer: Equatable, Sendable {
    case listenerClient
    /// `address`: the relay's address as the summary line shows it.
    case relay(address: String)

    /// How reasons name the peer.
    var name: String {
        switch self {
        case .listenerClient: "client (HTTPS listener)"
        case .relay(let address): "relay \(address)"
        }
    }

    /// The close token of a failure on the peer's side.
    var goneKind: CloseReason.Kind {
        switch self {
        case .listenerClient: .clientGone
        case .relay: .relayFailed
        }
    }

    /// Summary fields: `front_*` for the listener, `tunnel_*` for a tunnel.
    var isTunnel: Bool { self != .listenerClient }
}
