import VeilTLS

/// The HTTPS listener's outer handshake in progress: the engine (server role) and the scanner
/// that keeps reads at record boundaries, so that at the end nothing past the handshake is inside
/// OpenSSL and the session can move onto kTLS with exact sequence numbers.
final class OuterHandshake {
    let engine: TLSEngine
    var scanner = RecordScanner(collectBodies: false)
    /// A receive into the engine's input is in flight.
    var receiving = false
    /// A send of the engine's output is in flight.
    var sending = false

    init(engine: TLSEngine) {
        self.engine = engine
    }
}
