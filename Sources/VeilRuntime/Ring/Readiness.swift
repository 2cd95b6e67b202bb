internal import CLibURing
internal import CRuntimeShims
#if canImport(Glibc)
import Glibc
#endif

/// What a poll waits for on a socket, on a ring (`EventLoop.poll`) or off one (`Socket.wait`).
public enum Readiness: Sendable {
    /// Bytes to read, or the end of the stream (POLLIN).
    case readable
    /// Room to write (POLLOUT).
    case writable
    /// Bytes to read, or the peer shut its write side (POLLIN | POLLRDHUP): the splice relay
    /// waits for this, so a half-close is seen even with nothing left to read.
    case readableOrPeerClosed

    /// The poll(2) event mask.
    var events: Int16 {
        switch self {
        case .readable: return Int16(POLLIN)
        case .writable: return Int16(POLLOUT)
        case .readableOrPeerClosed: return Int16(POLLIN) | veil_pollrdhup
        }
    }
}
