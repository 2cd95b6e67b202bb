import VeilWire
/// Veil's configuration file: one setting per line, named like the long command-line flags.
///
///     # Veil configuration
///     listen 127.0.0.1:8080
///     resolve example.com:443:127.0.0.1
///     deny *:22            # no SSH through the proxy
///     split-hello          # a key alone means "true"
///     log-file "/var/log/veil proxy.log"
///
/// Syntax:
/// - `key value`: the key is the long flag name without `--` (lowercase letters, digits and
///   `-`); the value is the rest of the line with surrounding whitespace removed;
/// - a key alone has no value (`value == nil`), which flag-style settings read as true;
/// - `#` at the start of a line (after optional whitespace) makes the line a comment, and
///   `#` after whitespace ends the value (`a#b` stays intact);
/// - a value may be double-quoted to keep `#` or surrounding spaces; inside quotes `\"`
///   and `\\` are the only escapes;
/// - blank lines are ignored; lines may end in LF or CRLF; a leading UTF-8 BOM is ignored.
///
/// This type only parses. Mapping keys to settings (and letting flags override the file) is
/// the CLI's job; `unknownKeys(allowed:)`, `flag(_:)` and `error(_:line:)` help it report
/// problems as `path:line: message`.
public struct ConfigFile: Sendable {
    /// A problem at a line of the file; `description` is `path:line: message`.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public let path: String
        public let line: Int
        public let message: String
        public init(path: String, line: Int, message: String) {
            self.path = path
            self.line = line
            self.message = message
        }
        public var description: String { "\(path):\(line): \(message)" }
    }

    /// The path the text was read from (used in error messages only).
    public let path: String
    /// Settings in file order; `line` is 1-based.
    public let entries: [(key: String, value: String?, line: Int)]

    /// Parses the text of a configuration file.
    public init(text: String, path: String) throws(ParseError) {
        self.path = path
        var entries: [(key: String, value: String?, line: Int)] = []
        var bytes = Array(text.utf8)[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNumber = index + 1
            func fail(_ message: String) -> ParseError {
                ParseError(path: path, line: lineNumber, message: message)
            }
            var line = rawLine
            if line.last == 0x0D { line = line.dropLast() }
            if let bad = line.first(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F }) {
                throw fail("control character \(HostPort.describe(byte: bad)) in line")
            }
            line = ConfigFile.trim(line)
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }

            let keyEnd = line.firstIndex(where: { $0 == 0x20 || $0 == 0x09 }) ?? line.endIndex
            let keyBytes = line[line.startIndex..<keyEnd]
            let key = String(decoding: keyBytes, as: UTF8.self)
            try ConfigFile.validate(key: key, keyBytes: keyBytes, fail: fail)

            let rest = ConfigFile.trim(line[keyEnd...])
            var value: String?
            if rest.isEmpty || rest.first == UInt8(ascii: "#") {
                value = nil
            } else if rest.first == UInt8(ascii: "\"") {
                var out: [UInt8] = []
                var i = rest.index(after: rest.startIndex)
                var closed = false
                while i < rest.endIndex {
                    let c = rest[i]
                    if c == UInt8(ascii: "\\") {
                        let j = rest.index(after: i)
                        guard j < rest.endIndex else { break }
                        let e = rest[j]
                        guard e == UInt8(ascii: "\"") || e == UInt8(ascii: "\\") else {
                            throw fail(
                                "unknown escape '\\\(String(decoding: [e], as: UTF8.self))' in quoted value; only \\\" and \\\\ are allowed"
                            )
                        }
                        out.append(e)
                        i = rest.index(after: j)
                        continue
                    }
                    if c == UInt8(ascii: "\"") {
                        closed = true
                        i = rest.index(after: i)
                        break
                    }
                    out.append(c)
                    i = rest.index(after: i)
                }
                guard closed else { throw fail("unterminated quoted value for '\(key)'") }
                let tail = rest[i...]
                let after = ConfigFile.trim(tail)
                if !after.isEmpty {
                    let spaced = tail.first == 0x20 || tail.first == 0x09
                    guard spaced, after.first == UInt8(ascii: "#") else {
                        throw fail("unexpected text after closing quote for '\(key)'")
                    }
                }
                value = String(decoding: out, as: UTF8.self)
            } else {
                var end = rest.endIndex
                var previous: UInt8 = 0
                for i in rest.indices {
                    if rest[i] == UInt8(ascii: "#"), previous == 0x20 || previous == 0x09 {
                        end = i
                        break
                    }
                    previous = rest[i]
                }
                value = String(decoding: ConfigFile.trim(rest[rest.startIndex..<end]), as: UTF8.self)
            }
            entries.append((key: key, value: value, line: lineNumber))
        }
        self.entries = entries
    }

    /// All values given for `key`, in file order; a key written alone counts as `"true"`.
    public func values(_ key: String) -> [String] {
        entries.filter { $0.key == key }.map { $0.value ?? "true" }
    }

    /// The last value given for `key` (a key written alone counts as `"true"`); nil if absent.
    public func last(_ key: String) -> String? {
        guard let entry = lastEntry(key) else { return nil }
        return entry.value ?? "true"
    }

    /// The last entry for `key`, with its raw value (nil when written alone) and line.
    public func lastEntry(_ key: String) -> (key: String, value: String?, line: Int)? {
        entries.last { $0.key == key }
    }

    /// Entries whose key is not in `allowed`, in file order.
    public func unknownKeys(allowed: Set<String>) -> [(key: String, line: Int)] {
        entries.filter { !allowed.contains($0.key) }.map { (key: $0.key, line: $0.line) }
    }

    /// The last setting of a boolean key: nil if absent; true when written alone or as
    /// `true`/`yes`/`on`/`1`; false for `false`/`no`/`off`/`0` (case-insensitive).
    public func flag(_ key: String) throws(ParseError) -> Bool? {
        guard let entry = lastEntry(key) else { return nil }
        guard let value = entry.value else { return true }
        switch value.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            throw error(
                "invalid value '\(HostPort.clip(value))' for '\(key)'; expected true or false",
                line: entry.line)
        }
    }

    /// An error pointing at `line` of this file, for problems found while applying values.
    public func error(_ message: String, line: Int) -> ParseError {
        ParseError(path: path, line: line, message: message)
    }

    // MARK: - Helpers

    private static func trim(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var s = bytes
        while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
        while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
        return s
    }

    private static func validate(
        key: String, keyBytes: ArraySlice<UInt8>, fail: (String) -> ParseError
    ) throws(ParseError) {
        if key.hasPrefix("--") {
            throw fail("write '\(HostPort.clip(key.dropFirst(2), limit: 40))' without the leading '--'")
        }
        if let eq = keyBytes.firstIndex(of: UInt8(ascii: "=")) {
            let name = String(decoding: keyBytes[keyBytes.startIndex..<eq], as: UTF8.self)
            throw fail(
                "expected 'key value', found '=' in '\(HostPort.clip(key, limit: 40))'; write '\(HostPort.clip(name, limit: 40)) VALUE'"
            )
        }
        let isLower = { (c: UInt8) in c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
        let isDigit = { (c: UInt8) in c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        guard let first = keyBytes.first, isLower(first),
            keyBytes.allSatisfy({ isLower($0) || isDigit($0) || $0 == UInt8(ascii: "-") })
        else {
            throw fail(
                "invalid key '\(HostPort.clip(key, limit: 40))'; keys are lowercase option names such as 'listen'")
        }
    }
}
