import VeilTLS

/// One of the two sockets of a transfer: the client's, or the upstream's.
enum TransferSide: Sendable, Hashable {
    case client
    case upstream

    /// The other socket.
    var other: TransferSide { self == .client ? .upstream : .client }

    /// "client" or "upstream", as close reasons name a side.
    var name: String { self == .client ? "client" : "upstream" }

    /// The direction whose source this socket is (what is read from it).
    var outgoing: TransferDirection { self == .client ? .up : .down }
}

/// Which way bytes move in a transfer: `up` from the client to the upstream, `down` back.
enum TransferDirection: Sendable, Hashable {
    case up
    case down

    /// The socket this direction reads from.
    var source: TransferSide { self == .up ? .client : .upstream }

    /// The socket this direction writes to.
    var destination: TransferSide { self == .up ? .upstream : .client }

    /// The flow tracker's name for who sent what this direction carries.
    var sender: TLSFlowTracker.Side { self == .up ? .client : .server }

    /// Record log directions: as read, and as forwarded.
    var inbound: RecordDirection { self == .up ? .clientToProxy : .upstreamToProxy }
    var outbound: RecordDirection { self == .up ? .proxyToUpstream : .proxyToClient }
}
