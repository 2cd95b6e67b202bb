#if canImport(Glibc)
import Glibc
#endif

/// Reads a whole small file (a secret, a user list, an ECH config) into memory, refusing one
/// larger than `limit` bytes before reading past it. Callers word the errors for their setting.
public enum SmallFile {
    public enum Failure: Error, Sendable {
        /// open or read failed: the system's reason (strerror).
        case unreadable(String)
        /// The file holds more than the limit.
        case tooLarge
    }

    public static func read(_ path: String, limit: Int) throws(Failure) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 { throw .unreadable(String(cString: strerror(errno))) }
            if n == 0 { return bytes }
            bytes += chunk[0..<n]
            if bytes.count > limit { throw .tooLarge }
        }
    }
}
