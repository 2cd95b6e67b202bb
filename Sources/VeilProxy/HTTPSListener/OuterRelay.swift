/// What an outer session holds while it relays plaintext between its TLS socket and the bridge
/// (the socketpair to the connection behind it): who protects the records, the two directions
/// with their half-close bookkeeping, and the two plaintext buffers (one record's worth each,
/// from the worker's pool; the driver gives them back). A class, so that handling an event
/// changes it in place.
final class OuterRelay {
    var records: OuterRecords
    /// Outer session -> bridge. Source: the TLS peer's stream (its end is `front_end=`/`tunnel_end=`);
    /// sink: the bridge's write side.
    var up = StreamDirection()
    /// Bridge -> outer session. Source: the bridge; sink: the TLS socket's write side (ending
    /// with close_notify only when the connection vouched for the end, see
    /// `bridgeEndAuthenticated`). `down.sending` is any send on the TLS socket (records,
    /// alerts, a KeyUpdate answer).
    var down = StreamDirection()
    /// Plaintext for the bridge (userspace: opened or read here; kTLS: the driver's record
    /// message, whose body `upBase` then points at).
    let upBuffer: UnsafeMutableRawPointer
    var upBase: UnsafeRawPointer
    var upFilled = 0
    var upSent = 0
    /// Plaintext read from the bridge, sealed or written into the engine (userspace) or sent as
    /// is (kTLS).
    let downBuffer: UnsafeMutableRawPointer
    var downFilled = 0
    var downSent = 0
    /// The connection said the end it passes on to the bridge was authenticated (an intercepted
    /// leg's close_notify, or Veil's own complete answer): only then does the bridge's end become
    /// close_notify on the outer session.
    var bridgeEndAuthenticated = false
    /// Plaintext moved through OpenSSL, both ways (Veil's record layer takes over past 64 KiB).
    var opensslRelayed = 0

    init(records: OuterRecords, up: UnsafeMutableRawPointer, down: UnsafeMutableRawPointer) {
        self.records = records
        upBuffer = up
        upBase = UnsafeRawPointer(up)
        downBuffer = down
    }

    /// More may still come from the outer session and reach the bridge (the peer has not ended
    /// its stream, and the bridge takes what it sends).
    var outerInputOpen: Bool { up.sourceOpen && !up.sinkClosing }
}

/// The two plaintext buffers a relaying outer session needs (one whole record each).
struct OuterBuffers: Equatable {
    let up: UnsafeMutableRawPointer
    let down: UnsafeMutableRawPointer
}
