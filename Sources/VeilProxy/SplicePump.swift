import CVeilShims
import VeilRuntime
// Socket declarations are attributed to CLibURing on a clean build (liburing.h includes them).
import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// One direction of the splice relay: socket -> pipe -> socket inside the kernel.
///
/// A splice is issued only after a poll has reported the source readable, and both sockets are
/// non-blocking, so no io_uring worker thread ever sits waiting inside a splice. At most one
/// operation is in flight on each end of the pipe.
final class SplicePump {
    struct Ops {
        let pollIn: Connection.Op, spliceIn: Connection.Op
        let pollOut: Connection.Op, spliceOut: Connection.Op, shutdown: Connection.Op
    }

    let sourceFD: Int32
    let destinationFD: Int32
    let ops: Ops
    private(set) var pipeRead: Int32 = -1
    private(set) var pipeWrite: Int32 = -1
    private(set) var pipeCapacity = 0

    /// Bytes spliced into the pipe and not yet out of it.
    var inPipe = 0
    var inBusy = false
    var outBusy = false
    var sourceEOF = false
    var shutdownSent = false
    var done = false
    var bytes: UInt64 = 0

    init(sourceFD: Int32, destinationFD: Int32, ops: Ops) {
        self.sourceFD = sourceFD
        self.destinationFD = destinationFD
        self.ops = ops
    }

    /// Creates the pipe; the capacity granted may be less than asked (per-user pipe limits).
    func openPipe(size: Int) throws(SystemError) {
        var fds: [Int32] = [-1, -1]
        var granted: Int32 = 0
        let rc = veil_pipe(&fds, Int32(size), &granted)
        guard rc == 0 else { throw SystemError("pipe2", code: -rc) }
        pipeRead = fds[0]
        pipeWrite = fds[1]
        pipeCapacity = Int(granted)
    }

    var pipeFDs: [Int32] { [pipeRead, pipeWrite] }

    func closePipe() {
        Socket.close(pipeRead)
        Socket.close(pipeWrite)
        pipeRead = -1
        pipeWrite = -1
    }
}
