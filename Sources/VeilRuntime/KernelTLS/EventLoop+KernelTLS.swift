internal import CLibURing
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// Whole records with their content type on kTLS sockets (recvmsg/sendmsg with a control
/// message): what plain recv cannot read (an alert, a session ticket: recv fails with EIO and
/// splice with EINVAL) and what plain send cannot write (an alert).
extension EventLoop {
    /// recvmsg of one record into `message` (its type in `message.type`, its plaintext in
    /// `message.body(count:)`; the result is the plaintext's length, 0 at the end of the stream).
    /// `dontWait`: complete at once, with -EAGAIN when no record is there (MSG_DONTWAIT).
    public func receiveRecord(_ h: IOHandle, op: UInt8, fd: Int32, into message: TLSRecordMessage, dontWait: Bool = false) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        veil_prep_tls_recvmsg(sqe, fd, message.raw, dontWait ? Int32(MSG_DONTWAIT) : 0)
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }

    /// sendmsg of `bytes` (copied into `message` now) as one record of content `type`
    /// (21: an alert, such as close_notify `[1, 0]`).
    public func sendRecord(_ h: IOHandle, op: UInt8, fd: Int32, type: UInt8, bytes: [UInt8], using message: TLSRecordMessage) {
        guard isLive(h) else { return }
        let sqe = ring.nextSQE()
        bytes.withUnsafeBufferPointer { b in
            veil_prep_tls_sendmsg(sqe, fd, message.raw, type, b.baseAddress, b.count)
        }
        io_uring_sqe_set_data64(sqe, track(h, op: op))
    }
}
