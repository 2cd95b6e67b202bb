import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// One socket of an intercepted connection and the TLS session Veil runs on it.
final class TLSLeg {
    let fd: Int32
    let engine: TLSEngine
    let recvOp: Connection.Op
    let sendOp: Connection.Op
    /// Records read from this socket, and records Veil writes to it, for the record log.
    let inbound: RecordDirection
    let outbound: RecordDirection
    var tracker = TLSFlowTracker()
    var trackerFailed = false
    var inScanner: RecordScanner
    var outScanner: RecordScanner

    /// Veil's own record layer, once it has taken the session over from OpenSSL.
    var sealer: RecordCipher?
    var opener: RecordCipher?

    var receiving = false
    var sending = false
    var sendingCount = 0
    /// The socket reached EOF.
    var eof = false
    /// The peer sent close_notify.
    var closeNotify = false
    /// Veil queued the end of its side towards this socket (close_notify, or a bare FIN once
    /// everything queued is out: see `closeNotifyQueued`).
    var closeQueued = false
    /// That end is close_notify: the end Veil passes on was authenticated (Connection+Ends).
    var closeNotifyQueued = false
    var writeShut = false
    /// A fatal alert for this peer is on its way out; the connection ends once it is sent.
    var alerting = false
    /// kTLS switch: the last read found nothing waiting (MSG_DONTWAIT).
    var wouldBlock = false
    /// kTLS switch: everything that had arrived has been read.
    var drained = false

    init(fd: Int32, engine: TLSEngine, recvOp: Connection.Op, sendOp: Connection.Op,
         inbound: RecordDirection, outbound: RecordDirection, logAll: Bool) {
        self.fd = fd
        self.engine = engine
        self.recvOp = recvOp
        self.sendOp = sendOp
        self.inbound = inbound
        self.outbound = outbound
        inScanner = RecordScanner(collectBodies: true)
        outScanner = RecordScanner(collectBodies: logAll)
    }

    /// Nothing more will come from this socket.
    var sourceDone: Bool { eof || closeNotify }
}
