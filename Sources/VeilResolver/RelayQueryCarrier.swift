import VeilWire

/// Carries the relay's `RESOLVE` over a connection the proxy already keeps to the relay
/// (`--relay-mux on`: a stream on its multiplexed HTTP/2 connection), so that a lookup shows an
/// observer no relay connection of its own. Without a carrier, each lookup is a pinned TLS
/// connection of its own (`DNSServer.askRelay`).
public protocol RelayQueryCarrier: Sendable {
    /// Blocking (the resolver's background queue only): `RESOLVE host:port` (`https`: with the
    /// name's HTTPS records) to relay number `relay` (its place among the configured relays), on
    /// the connection of loop `loopIndex` (the one that asked; nil: any), within `timeout`
    /// seconds. nil when it cannot carry the query (no workers): the caller connects itself.
    func resolve(relay: Int, host: String, port: UInt16, https: Bool, loopIndex: Int?,
                 timeout: Double) -> Result<RelayResolution.ParseResult, RelayQueryFailure>?
}

/// Why a carried query got no answer (the connection failed, or the time ran out).
public struct RelayQueryFailure: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
