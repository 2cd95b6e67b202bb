#if canImport(Glibc)
import VeilResolver
import VeilWire
import Glibc
#endif
import VeilRuntime

/// Reads a shared secret from a file: the first line, without surrounding whitespace. Files
/// readable by others get a warning from the caller, never an echo of their contents.
public enum SecretFile {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func read(_ path: String) throws(Error) -> String {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.read(path, limit: 4096)
        } catch {
            switch error {
            case .unreadable(let why): throw Error(description: "cannot read secret file \(path): \(why)")
            case .tooLarge: throw Error(description: "secret file \(path) is larger than 4 KiB")
            }
        }
        let line = String(decoding: bytes.prefix { $0 != 0x0a }, as: UTF8.self).trimmingWhitespace()
        guard !line.isEmpty else { throw Error(description: "secret file \(path) is empty") }
        return line
    }

    /// Why `secret` cannot travel in a `Proxy-Authorization: Bearer` header, if it cannot:
    /// only visible ASCII (no spaces or control characters), at most 512 characters.
    public static func problem(with secret: String) -> String? {
        if secret.isEmpty { return "the secret is empty" }
        if secret.utf8.count > 512 { return "the secret is longer than 512 characters" }
        if !secret.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) {
            return "the secret may hold only visible ASCII characters (no spaces or control characters)"
        }
        return nil
    }

    /// A new secret written to a new file at `path` (never replacing one; directory created
    /// 0700 if missing, file 0600).
    public static func generate(into path: String) throws(Error) -> String {
        guard let secret = generate() else { throw Error(description: "cannot read random bytes for a secret") }
        if let slash = path.lastIndex(of: "/") {
            let dir = String(path[..<slash])
            if !dir.isEmpty { _ = mkdir(dir, 0o700) }
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Error(description: "cannot create secret file \(path): \(String(cString: strerror(errno)))") }
        let line = Array((secret + "\n").utf8)
        let written = line.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == line.count else {
            unlink(path)
            throw Error(description: "cannot write secret file \(path)")
        }
        return secret
    }

    /// Writes `line` as the whole of the file at `path`, 0600, replacing what was there: a new
    /// file beside it, renamed over it (never a moment with the secret in a wider-open file).
    public static func replace(_ path: String, with line: String) throws(Error) {
        let temporary = path + ".new"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Error(description: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw Error(description: "cannot write \(path)")
        }
    }

    /// 32 random bytes as 64 lowercase hex digits (from /dev/urandom).
    public static func generate() -> String? {
        var bytes = [UInt8](repeating: 0, count: 32)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard Glibc.read(fd, &bytes, bytes.count) == bytes.count else { return nil }
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: bytes.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0xf)]] }, as: UTF8.self)
    }
}
