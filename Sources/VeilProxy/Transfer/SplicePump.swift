import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// One direction of the splice relay: socket -> pipe -> socket inside the kernel.
///
/// Each step is one linked chain (IOSQE_IO_HARDLINK), so a chunk costs one submission and the
/// io-wq worker that runs the first splice runs the second without another wake-up:
/// - fill:  poll(source, POLLIN) -> splice(source -> pipe) -> splice(pipe -> destination)
/// - drain: poll(destination, POLLOUT) -> splice(pipe -> destination), while bytes remain
/// Sockets are non-blocking and splices use SPLICE_F_NONBLOCK, so a splice never waits inside
/// an io-wq worker; the polls do the waiting. One chain is in flight per direction.
final class SplicePump {
    struct Ops {
        let pollIn: Connection.Op, spliceIn: Connection.Op
        let pollOut: Connection.Op, spliceOut: Connection.Op, shutdown: Connection.Op
        let control: Connection.Op, controlSend: Connection.Op
    }

    enum Chain { case none, fill, drain, control, controlSend }

    let sourceFD: Int32
    let destinationFD: Int32
    let ops: Ops
    private var pipe: Pipe?
    var pipeRead: Int32 { pipe?.readFD ?? -1 }
    var pipeWrite: Int32 { pipe?.writeFD ?? -1 }
    var pipeCapacity: Int { pipe?.capacity ?? 0 }

    /// Bytes spliced into the pipe and not yet out of it.
    var inPipe = 0
    var chain = Chain.none
    /// Completions still expected for the chain in flight.
    var pending = 0
    var pollResult: Int32 = 0
    var inResult: Int32 = 0
    var outResult: Int32 = 0
    var sourceEOF = false
    var shutdownSent = false
    var done = false
    var bytes: UInt64 = 0
    /// kTLS: the record being received or sent by recvmsg/sendmsg (allocated on first use).
    var message: TLSRecordMessage?
    /// kTLS: an alert to send on the destination once the pipe is drained (close_notify or fatal).
    var pendingAlert: [UInt8]?
    var alertSent = false

    init(sourceFD: Int32, destinationFD: Int32, ops: Ops) {
        self.sourceFD = sourceFD
        self.destinationFD = destinationFD
        self.ops = ops
    }

    /// Creates the pipe at the kernel's default capacity (64 KiB).
    func openPipe() throws(SystemError) {
        pipe = try Pipe()
    }

    /// After a fill that filled the whole pipe: this is a bulk transfer, so take bigger chunks
    /// (x4, up to `limit`). Idle and interactive tunnels keep small pipes, which matters because
    /// pipe capacity counts against per-user limits (fs.pipe-user-pages-soft). A refused resize
    /// (EPERM past those limits) keeps the current size and is not retried.
    func grow(limit: Int) {
        guard var p = pipe, p.capacity < limit else { return }
        if !p.grow(to: min(p.capacity * 4, limit)) { canGrow = false }
        pipe = p
    }

    var canGrow = true

    var pipeFDs: [Int32] { pipe?.fds ?? [] }

    /// Closes the pipe and frees the kTLS message buffer.
    func release() {
        pipe?.close()
        message = nil
    }
}
