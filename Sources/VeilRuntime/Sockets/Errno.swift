#if canImport(Glibc)
import Glibc
#endif

/// A failed system call or io_uring operation: the errno value and what was attempted.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let code: Int32
    public let operation: String

    public init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }

    /// `ECONNREFUSED` style name for well-known codes, else the number.
    public var name: String { SystemError.name(of: code) }

    public var description: String { "\(operation): \(SystemError.message(of: code))" }

    /// strerror text, e.g. "Connection refused".
    public static func message(of code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    public static func name(of code: Int32) -> String {
        switch code {
        case EAGAIN: return "EAGAIN"
        case ECONNREFUSED: return "ECONNREFUSED"
        case ECONNRESET: return "ECONNRESET"
        case ECANCELED: return "ECANCELED"
        case EPIPE: return "EPIPE"
        case ETIMEDOUT: return "ETIMEDOUT"
        case EHOSTUNREACH: return "EHOSTUNREACH"
        case ENETUNREACH: return "ENETUNREACH"
        case EINVAL: return "EINVAL"
        case ENOENT: return "ENOENT"
        case EBADF: return "EBADF"
        default: return "errno \(code)"
        }
    }
}
