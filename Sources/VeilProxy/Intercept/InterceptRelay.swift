import VeilRuntime
import VeilTLS

/// The userspace relay's data that changes on every event, held by `InterceptRelayMachine`'s
/// states (a class, so that handling an event never copies it): the two legs, the two
/// directions' half-close bookkeeping (`up`: client -> upstream, `down`: upstream -> client),
/// who protects records, the plaintext buffer OpenSSL reads into, and when data last moved.
final class InterceptRelay {
    let client: TLSLeg
    let upstream: TLSLeg
    // See Connection's note on `@exclusivity(unchecked)`: read or assigned in place only.
    @exclusivity(unchecked) var up = StreamDirection()
    @exclusivity(unchecked) var down = StreamDirection()
    @exclusivity(unchecked) var records = InterceptRecordLayer.openssl
    /// The owner's buffer SSL_read fills (16 KiB at a time); it outlives the relay.
    let plaintext: UnsafeMutableRawPointer
    @exclusivity(unchecked) var lastActivity: UInt64
    /// The legs gave their memory back (`.release`) and no data has moved since.
    @exclusivity(unchecked) var memoryReleased = false
    /// Record log lines gathered during an event (`--record-log records`), else nil.
    let log: InterceptRecordLog?

    /// Takes the legs as the handshakes left them, with what is in flight on them.
    init(client: TLSLeg, upstream: TLSLeg, plaintext: UnsafeMutableRawPointer, logRecords: Bool, now: UInt64) {
        self.client = client
        self.upstream = upstream
        self.plaintext = plaintext
        lastActivity = now
        log = logRecords ? InterceptRecordLog() : nil
        up.receiving = client.receiving
        up.sending = upstream.sending
        down.receiving = upstream.receiving
        down.sending = client.sending
        if client.eof { up.transportEnded() }
        if upstream.eof { down.transportEnded() }
    }

    func leg(_ side: TransferSide) -> TLSLeg { side == .client ? client : upstream }

    /// A direction by name; `relay[side.outgoing]` is what is read from a side, and
    /// `relay[side.incoming]` what is written to it.
    subscript(_ d: TransferDirection) -> StreamDirection {
        get { d == .up ? up : down }
        _modify {
            if d == .up { yield &up } else { yield &down }
        }
    }
}

extension TransferSide {
    /// The direction whose destination this socket is (what is written to it).
    var incoming: TransferDirection { self == .client ? .down : .up }
}

/// Who protects the userspace relay's records (see InterceptRelayMachine+Records).
enum InterceptRecordLayer {
    /// SSL_read / SSL_write for the whole connection.
    case openssl
    /// On OpenSSL (whole records only) until the takeover finds the moment: `relayed` plaintext
    /// bytes so far; a TLS 1.3 upstream's first ticket is waited for until `waitUntil` (0 once
    /// upstream data has come through).
    case pending(relayed: Int, waitUntil: UInt64)
    /// Veil's `RecordCipher`s on both legs.
    case veil(InterceptRecordCiphers)
}

/// Both legs' record ciphers after the takeover.
struct InterceptRecordCiphers {
    let clientSealer: RecordCipher
    let clientOpener: RecordCipher
    let upstreamSealer: RecordCipher
    let upstreamOpener: RecordCipher

    func sealer(_ side: TransferSide) -> RecordCipher { side == .client ? clientSealer : upstreamSealer }
    func opener(_ side: TransferSide) -> RecordCipher { side == .client ? clientOpener : upstreamOpener }
}
