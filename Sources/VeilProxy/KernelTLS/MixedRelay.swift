import VeilRuntime
import VeilTLS

/// The mixed relay's data that changes on every event, held by `MixedRelayMachine`'s states (a
/// class, so that handling an event never copies it): the userspace leg, the kTLS socket's side
/// and its record messages, the two directions' half-close bookkeeping (`toKernel`: from the
/// userspace leg to the kTLS socket, `fromKernel`: back), the plaintext on its way, and when data
/// last moved.
final class MixedRelay {
    /// The side whose socket is on kTLS (the kernel decrypts what arrives, encrypts what is sent).
    let kernelSide: TransferSide
    let userspace: TLSLeg
    /// The record being received on the kTLS socket (recvmsg with a cmsg for its type), and a
    /// control record being sent there (close_notify).
    let incoming: TLSRecordMessage
    let control: TLSRecordMessage
    // See Connection's note on `@exclusivity(unchecked)`: read or assigned in place only.
    @exclusivity(unchecked) var toKernel = StreamDirection()
    @exclusivity(unchecked) var fromKernel = StreamDirection()
    /// Plaintext from the userspace leg waiting to be sent on the kTLS socket:
    /// `pendingStart..<pendingEnd` of `plaintext`.
    @exclusivity(unchecked) var pendingStart = 0
    @exclusivity(unchecked) var pendingEnd = 0
    /// Application data received on the kTLS socket and not yet handed to the userspace leg's
    /// engine: `incomingStart..<incomingEnd` of `incoming`'s data.
    @exclusivity(unchecked) var incomingStart = 0
    @exclusivity(unchecked) var incomingEnd = 0
    /// The owner's buffer SSL_read fills (16 KiB at a time); it outlives the relay.
    let plaintext: UnsafeMutableRawPointer
    @exclusivity(unchecked) var lastActivity: UInt64
    /// Record log lines gathered during an event (`--record-log records`), else nil.
    let log: InterceptRecordLog?

    /// nil when out of memory for the record messages.
    init?(kernel: TransferSide, userspace: TLSLeg, plaintext: UnsafeMutableRawPointer, logRecords: Bool, now: UInt64) {
        guard let a = TLSRecordMessage(), let b = TLSRecordMessage() else { return nil }
        kernelSide = kernel
        self.userspace = userspace
        incoming = a
        control = b
        self.plaintext = plaintext
        lastActivity = now
        log = logRecords ? InterceptRecordLog() : nil
        // What the handshakes left in flight on the userspace leg.
        toKernel.receiving = userspace.receiving
        fromKernel.sending = userspace.sending
        if userspace.eof { toKernel.transportEnded() }
    }

    var userspaceSide: TransferSide { kernelSide.other }
}
