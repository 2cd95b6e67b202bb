import VeilTLS

/// The TLS session to the relay while a tunnel is being set up: the engine (client role), the
/// operations in flight on it, and the relay's answer as it arrives. A class, so that handling
/// an event changes it in place.
final class RelayTunnelSession {
    let engine: TLSEngine
    /// A receive into the engine's input is in flight.
    var receiving = false
    /// A send of the engine's output is in flight.
    var sending = false
    /// The relay closed its side (EOF): what it sent so far is all there is.
    var relayClosed = false
    /// The relay's answer to CONNECT, until its head (and an error's body) is complete.
    var answer: [UInt8] = []

    init(engine: TLSEngine) {
        self.engine = engine
    }
}
