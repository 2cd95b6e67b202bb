#if canImport(Glibc)
import Glibc
#endif

/// Files that hold secrets or what people visited (the key log, the record log): opened for
/// appending, created 0600, and an existing regular file that others may read is made 0600
/// (or refused when that is not possible), never silently kept as it was.
public enum PrivateFile {
    /// Opens `path` for appending. `tightened` says the file existed with a looser mode, which
    /// is now 0600.
    public static func openForAppend(_ path: String) throws(SystemError) -> (fd: Int32, tightened: mode_t?) {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemError("open \(path)") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = SystemError("fstat \(path)")
            _ = close(fd)
            throw e
        }
        let mode = st.st_mode & 0o777
        guard st.st_mode & S_IFMT == S_IFREG, mode & 0o077 != 0 else { return (fd, nil) }
        guard fchmod(fd, 0o600) == 0 else {
            let e = SystemError("\(path) is mode \(String(mode, radix: 8)), readable by others, and chmod 600", code: errno)
            _ = close(fd)
            throw e
        }
        return (fd, mode)
    }
}
