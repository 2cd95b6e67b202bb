import VeilResolver
import VeilWire
import VeilRuntime

/// The kTLS side of a connection whose other leg stays in userspace (`--ktls auto` decides per
/// leg): the kernel decrypts what arrives and encrypts what Veil sends, one record at a time by
/// recvmsg (its type tells application data from alerts and post-handshake messages).
final class KernelLeg {
    let fd: Int32
    let isClient: Bool
    /// The record being received (recvmsg with a cmsg for its type).
    let incoming: TLSRecordMessage
    /// A control record being sent (close_notify).
    let control: TLSRecordMessage
    /// Application data received and not yet handed to the other leg's engine:
    /// `incomingStart..<incomingEnd` of `incoming`'s data (a recvmsg can bring several records).
    var incomingStart = 0
    var incomingEnd = 0
    var receiving = false
    var sending = false
    /// Plaintext from the userspace leg waiting to be sent here: `pendingStart..<pendingEnd`
    /// of the connection's plaintext buffer.
    var pendingStart = 0
    var pendingEnd = 0
    /// Nothing more will come from this socket (EOF, close_notify or an alert).
    var sourceDone = false
    /// It ended with close_notify (an authenticated end, passed on as one).
    var closeNotify = false
    var closeSent = false
    var writeShut = false
    var shutting = false

    init?(fd: Int32, isClient: Bool) {
        guard let a = TLSRecordMessage(), let b = TLSRecordMessage() else { return nil }
        self.fd = fd
        self.isClient = isClient
        incoming = a
        control = b
    }
}
