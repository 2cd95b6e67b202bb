import Testing
import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// conf/veil.conf and README's settings tables are made from `Setting.all` by `make docs`
/// (which runs these tests with VEIL_WRITE_DOCS=1 to write them): they fail when a declaration
/// changed and the documents were not made again.
@Suite("documents made from the settings", .serialized)
struct SettingsDocumentTests {
    static let root: String = {
        var parts = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/VeilProxyTests/SettingsDocumentTests.swift
        return parts.joined(separator: "/")
    }()
    static let writing = getenv("VEIL_WRITE_DOCS").map { String(cString: $0) } == "1"

    @Test func exampleConfig() throws {
        let path = Self.root + "/conf/veil.conf"
        let made = SettingsDocument.exampleConfig()
        if Self.writing { try Self.write(made, to: path) }
        #expect(try Self.read(path) == made, "\(path) is out of date: run make docs")
    }

    @Test(arguments: [("settings table", SettingsDocument.settingsTable()), ("relay table", SettingsDocument.relayTable())])
    func readme(part: String, made: String) throws {
        let path = Self.root + "/README.md"
        let begin = "<!-- \(part): made by make docs from Sources/VeilProxy/Settings -->\n"
        let end = "<!-- end of \(part) -->\n"
        let text = try Self.read(path)
        func block(_ text: String) -> Range<String.Index>? {
            guard let b = text.firstRange(of: begin), let e = text[b.upperBound...].firstRange(of: end) else { return nil }
            return b.upperBound..<e.lowerBound
        }
        let range = try #require(block(text), "README.md has no '\(begin)' ... '\(end)' block")
        if Self.writing && String(text[range]) != made {
            try Self.write(String(text[..<range.lowerBound]) + made + String(text[range.upperBound...]), to: path)
        }
        let now = try Self.read(path)
        #expect(block(now).map { String(now[$0]) } == made, "README.md's \(part) is out of date: run make docs")
    }

    struct FileError: Error { let path: String }

    static func read(_ path: String) throws -> String {
        guard let f = fopen(path, "r") else { throw FileError(path: path) }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func write(_ text: String, to path: String) throws {
        guard let f = fopen(path, "w") else { throw FileError(path: path) }
        defer { fclose(f) }
        let bytes = Array(text.utf8)
        guard fwrite(bytes, 1, bytes.count, f) == bytes.count else { throw FileError(path: path) }
    }
}
