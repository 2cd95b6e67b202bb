#if canImport(Glibc)
import Glibc
#endif

/// The CA's files under `$VEIL_HOME`: the only file I/O in VeilTLS (the CA is read, or created
/// on a first run, once at start-up; never on a ring thread). Existing files are never replaced;
/// a key file others may read is refused; every problem is a `CertificateAuthorityError` naming
/// the path and the fix.
enum CertificateAuthorityFiles {
    static let maxFileSize = 1 << 20

    static func describeErrno(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Creates `path` (and missing parents) with mode 0700; an existing directory is left as is.
    static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw CertificateAuthorityError(.directory, path: path,
                                                "\(path) exists but is not a directory")
            }
            return
        }
        let code = errno
        guard code == ENOENT else {
            throw CertificateAuthorityError(.directory, path: path,
                                            "cannot access \(path): \(describeErrno(code))")
        }
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectory(String(path[..<slash]))
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            let code = errno
            throw CertificateAuthorityError(.directory, path: path,
                                            "cannot create \(path): \(describeErrno(code))")
        }
    }

    /// Whether `path` exists (ENOENT -> false; any other stat failure throws).
    static func exists(_ path: String) throws -> Bool {
        var info = stat()
        if stat(path, &info) == 0 { return true }
        let code = errno
        if code == ENOENT { return false }
        throw CertificateAuthorityError(.unreadable, path: path,
                                        "cannot access \(path): \(describeErrno(code))")
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot read \(path): \(describeErrno(code))")
        }
        defer { close(fd) }
        return try read(fd, path: path)
    }

    /// Reads a private key file, refusing it (like ssh) when group or others have any access.
    static func readPrivateFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot read \(path): \(describeErrno(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot stat \(path): \(describeErrno(code))")
        }
        let mode = info.st_mode & 0o7777
        if mode & 0o077 != 0 {
            var octal = String(mode, radix: 8)
            while octal.count < 4 { octal = "0" + octal }
            let file = path.split(separator: "/").last.map(String.init) ?? path
            throw CertificateAuthorityError(.insecureKeyPermissions, path: path, """
                \(file) is accessible by others (mode \(octal)); run chmod 600 \(path)
                """)
        }
        return try read(fd, path: path)
    }

    private static func read(_ fd: Int32, path: String) throws -> [UInt8] {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            throw CertificateAuthorityError(.unreadable, path: path,
                                            "cannot stat \(path): \(describeErrno(code))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw CertificateAuthorityError(.unreadable, path: path, "\(path) is not a regular file")
        }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw CertificateAuthorityError(.unreadable, path: path,
                                                "cannot read \(path): \(describeErrno(code))")
            }
            if n == 0 { break }
            out.append(contentsOf: chunk.prefix(n))
            if out.count > maxFileSize {
                throw CertificateAuthorityError(.unreadable, path: path,
                                                "\(path) is larger than \(maxFileSize) bytes")
            }
        }
        return out
    }

    /// Creates a new file (O_EXCL: never replaces one) with exactly `mode`, writes `contents`
    /// and fsyncs it. On failure the partly written file is removed again.
    static func createExclusive(_ path: String, mode: mode_t, contents: [UInt8]) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode)
        guard fd >= 0 else {
            let code = errno
            let hint = code == EEXIST ? " (it appeared while Veil was creating the CA; is another Veil starting?)" : ""
            throw CertificateAuthorityError(.creation, path: path,
                                            "cannot create \(path): \(describeErrno(code))\(hint)")
        }
        var failure: Int32 = 0
        if fchmod(fd, mode) != 0 { failure = errno }
        var written = 0
        while failure == 0 && written < contents.count {
            let n = contents.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
            }
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
            } else {
                written += n
            }
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        if failure != 0 {
            unlink(path)
            throw CertificateAuthorityError(.creation, path: path,
                                            "cannot write \(path): \(describeErrno(failure))")
        }
    }

    /// Removes a file this run created (never one that existed before).
    static func remove(_ path: String) {
        unlink(path)
    }
}
