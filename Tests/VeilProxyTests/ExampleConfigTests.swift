import Testing
import VeilProxy
import VeilWire
import VeilResolver
#if canImport(Glibc)
import Glibc
#endif

/// conf/veil.conf, the example `make install` puts in PREFIX/etc/veil, starts the same Veil as
/// no file at all (every line commented out or equal to the default), and documents every
/// setting the builder knows. (`SettingsDocumentTests` checks it is what `make docs` writes.)
@Suite("conf/veil.conf")
struct ExampleConfigTests {
    static let path: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/VeilProxyTests/ExampleConfigTests.swift
        return parts.joined(separator: "/") + "/conf/veil.conf"
    }()

    static func text() throws -> String {
        guard let f = fopen(path, "r") else { throw ReadError(path: path) }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    struct ReadError: Error { let path: String }

    static func dumped(_ c: ProxyConfiguration) -> String {
        var s = ""
        dump(c, to: &s)
        return s
    }

    @Test func startsTheDefaultVeil() throws {
        let file = try ConfigFile(text: try Self.text(), path: Self.path)
        var withFile = ConfigurationBuilder()
        try withFile.apply(file: file)
        let a = Self.dumped(try withFile.build())
        let b = Self.dumped(try ConfigurationBuilder().build())
        #expect(a == b, "settings in \(Self.path) that differ from the defaults: \(file.entries.map { "\($0.key) \($0.value ?? "") (line \($0.line))" })")
    }

    @Test func documentsEverySetting() throws {
        let lines = try Self.text().split(separator: "\n").map(String.init)
        for key in ConfigurationBuilder().settings.map(\.name) {
            let documented = lines.contains { $0 == "# \(key)" || $0.hasPrefix("# \(key) ") }
            #expect(documented, "conf/veil.conf has no '# \(key) ...' line")
        }
    }
}
