import VeilResolver
import VeilWire
import VeilRuntime
import CLibCrypt
#if canImport(Glibc)
import Glibc
#endif

/// Who may use the proxy (`--auth user:password`, `--auth-file FILE`): a user name and either a
/// password given on the command line or environment (compared in constant time), or an
/// htpasswd-style hash (bcrypt `$2y$`/`$2b$`/`$2a$`, SHA-256-crypt `$5$`, SHA-512-crypt `$6$`,
/// yescrypt `$y$`, checked by libcrypt). Hashes are slow by design: `verify` must not run on a
/// ring thread (see `ProxyAuthenticator`).
public struct ProxyUsers: Sendable {
    enum Secret: Sendable {
        case password([UInt8])
        case hash(String)
    }

    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    private(set) var table: [String: Secret] = [:]

    public init() {}

    public var isEmpty: Bool { table.isEmpty }
    public var count: Int { table.count }

    /// Adds `user:password` (the password may hold ':').
    public mutating func add(entry: String, origin: String) throws(Error) {
        guard let colon = entry.firstIndex(of: ":"), colon != entry.startIndex else {
            throw Error(description: "\(origin): expected user:password")
        }
        let user = String(entry[..<colon])
        let password = Array(entry[entry.index(after: colon)...].utf8)
        guard !password.isEmpty else { throw Error(description: "\(origin): empty password for \(user)") }
        try add(user, .password(password), origin: origin)
    }

    /// Adds every `user:hash` line of an htpasswd-style file (blank lines and `#` comments
    /// skipped).
    public mutating func add(file path: String) throws(Error) {

        let text = try ProxyUsers.readSmallFile(path)
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw).trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            let origin = "\(path):\(n + 1)"
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw Error(description: "\(origin): expected user:hash")
            }
            let user = String(line[..<colon])
            let hash = String(line[line.index(after: colon)...])
            guard let scheme = ProxyUsers.scheme(of: hash) else {
                throw Error(description: "\(origin): unsupported password hash for \(user) (use bcrypt: htpasswd -B, or SHA-256/512-crypt: mkpasswd -m sha-256)")
            }
            guard ProxyUsers.crypt("probe", setting: hash) != nil else {
                throw Error(description: "\(origin): malformed \(scheme) hash for \(user)")
            }
            try add(user, .hash(hash), origin: origin)
        }
    }

    private mutating func add(_ user: String, _ secret: Secret, origin: String) throws(Error) {
        guard !user.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7f }) else {
            throw Error(description: "\(origin): user names may not hold spaces or control characters")
        }
        guard table[user] == nil else { throw Error(description: "\(origin): user \(user) given twice") }
        table[user] = secret
    }

    /// Whether checking a password may be slow (some user has a hash, which also makes an
    /// unknown user's check slow) and belongs off the ring.
    var hasHashes: Bool {
        table.values.contains { if case .hash = $0 { return true } else { return false } }
    }

    /// Whether `password` is `user`'s. Unknown users cost about as much as known ones.
    func verify(user: String, password: [UInt8]) -> Bool {
        switch table[user] {
        case .password(let expected):
            return ConstantTime.equal(expected, password)
        case .hash(let hash):
            guard let computed = ProxyUsers.crypt(String(decoding: password, as: UTF8.self), setting: hash) else { return false }
            return ConstantTime.equal(Array(hash.utf8), Array(computed.utf8))
        case nil:
            // As long as a known user would take: no telling names apart by the time taken.
            if let dummy = table.values.lazy.compactMap({ secret -> String? in
                if case .hash(let h) = secret { return h }
                return nil
            }).first {
                _ = ProxyUsers.crypt(String(decoding: password, as: UTF8.self), setting: dummy)
            } else {
                _ = ConstantTime.equal(password, password)
            }
            return false
        }
    }

    static func scheme(of hash: String) -> String? {
        for (prefix, name) in [("$2y$", "bcrypt"), ("$2b$", "bcrypt"), ("$2a$", "bcrypt"), ("$5$", "SHA-256-crypt"),
                               ("$6$", "SHA-512-crypt"), ("$y$", "yescrypt")] where hash.hasPrefix(prefix) {
            return name
        }
        return nil
    }

    /// crypt(3) of `phrase` with `setting` (a whole hash: its salt and parameters are used).
    static func crypt(_ phrase: String, setting: String) -> String? {
        let size = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        defer { data.deallocate() }
        memset(data, 0, size)
        guard let out = crypt_rn(phrase, setting, data, Int32(size)) else { return nil }
        let result = String(cString: out)
        return result.hasPrefix("*") ? nil : result
    }

    private static func readSmallFile(_ path: String) throws(Error) -> String {
        let bytes: [UInt8]
        do {
            bytes = try SmallFile.read(path, limit: 1 << 20)
        } catch {
            switch error {
            case .unreadable(let why): throw Error(description: "cannot read \(path): \(why)")
            case .tooLarge: throw Error(description: "\(path) is larger than 1 MiB")
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
