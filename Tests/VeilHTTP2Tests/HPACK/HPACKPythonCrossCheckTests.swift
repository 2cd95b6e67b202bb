import Foundation
import Testing
@testable import VeilHTTP2

/// HPACK cross-checked against an independent implementation: Python's `hpack` package (Debian
/// python3-hpack, brought by python3-h2 in the Makefile's APT_PACKAGES). Python encodes with its
/// dynamic table, Huffman and a table size change, Veil decodes; Veil encodes, Python decodes;
/// and tools/hpack_tables.py run again must print the committed HPACKTables.swift.
/// The interpreter is `$VEIL_HPACK_PYTHON`, else /usr/bin/python3; when it cannot import
/// `hpack` (no `make deps`), these tests are skipped and say why.
@Suite("HPACK vs Python hpack")
struct HPACKPythonCrossCheckTests {
    static let python = ProcessInfo.processInfo.environment["VEIL_HPACK_PYTHON"] ?? "/usr/bin/python3"
    static let available = (try? run(["-c", "import hpack"])) != nil
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Header lists that exercise the dynamic table (repeats, eviction at 4096 and then 256
    /// octets), Huffman over every printable octet and multi-octet UTF-8, and long values.
    static let lists: [[HPACKHeader]] = {
        var lists: [[HPACKHeader]] = [
            [h(":method", "CONNECT"), h(":authority", "origin.test:443"), h("proxy-authorization", "Bearer abc")],
            [h(":method", "CONNECT"), h(":authority", "origin.test:443"), h("proxy-authorization", "Bearer abc")],
            [h(":status", "200"), h("x-all", String(decoding: Array(0x20...0x7e), as: UTF8.self))],
            [h("x-utf8", "héllo 日本 \u{1F600}"), h("x-empty", ""), h("cookie", "a=b; c=d")],
            [h("x-long", String(repeating: "0123456789abcdef", count: 300))],
        ]
        lists.append((0..<150).map { h("x-name-\($0)", "value \($0 * 7919)") })  // fills and evicts a 4096 table
        lists.append((0..<40).map { h("x-name-\($0 % 10)", "v\($0 % 10)") })  // repeats: indexed from the table
        return lists
    }()

    /// Python encodes the lists (the table shrinks to 256 before the last two, which sends a
    /// size update), one hex block per line.
    static let encodeScript = """
        import json, sys
        from hpack import Encoder
        e = Encoder()
        lists = json.load(sys.stdin)
        for i, l in enumerate(lists):
            if i == len(lists) - 2:
                e.header_table_size = 256
            print(e.encode([(n, v) for n, v in l]).hex())
        """

    /// Python decodes hex blocks (one per line) and prints the lists as JSON.
    static let decodeScript = """
        import json, sys
        from hpack import Decoder
        d = Decoder()
        out = [[[n, v] for n, v in d.decode(bytes.fromhex(line.strip()))] for line in sys.stdin if line.strip()]
        print(json.dumps(out))
        """

    @Test(.enabled(if: available, "\(python) cannot import hpack (make deps installs python3-h2)"))
    func veilDecodesPythonsBlocks() throws {
        let input = try JSONSerialization.data(withJSONObject: Self.lists.map { $0.map { [$0.name, $0.value] } })
        let blocks = try Self.run(["-c", Self.encodeScript], input: input).split(separator: "\n").map(String.init)
        try #require(blocks.count == Self.lists.count)
        var decoder = HPACKDecoder()
        for (i, block) in blocks.enumerated() {
            #expect(try decoder.decode(hexBytes(block)[...]) == Self.lists[i], "block \(i)")
        }
        #expect(decoder.dynamicTableSize <= 256 && decoder.dynamicTableSize > 0)
    }

    @Test(.enabled(if: available, "\(python) cannot import hpack (make deps installs python3-h2)"))
    func pythonDecodesVeilsBlocks() throws {
        var encoder = HPACKEncoder()
        var lines = ""
        for list in Self.lists {
            var block: [UInt8] = []
            encoder.encode(list, into: &block)
            lines += hexString(block) + "\n"
        }
        let json = try Self.run(["-c", Self.decodeScript], input: Data(lines.utf8))
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[[String]]])
        #expect(decoded.map { $0.map { h($0[0], $0[1]) } } == Self.lists)
    }

    @Test(.enabled(if: available, "\(python) cannot import hpack (make deps installs python3-h2)"))
    func generatedTablesAreUpToDate() throws {
        let generated = try Self.run([Self.packageRoot + "/tools/hpack_tables.py"])
        let committed = try String(contentsOfFile: Self.packageRoot + "/Sources/VeilHTTP2/HPACK/HPACKTables.swift", encoding: .utf8)
        #expect(generated == committed)
    }

    struct Failed: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs the interpreter; its standard output, or an error with its standard error.
    static func run(_ arguments: [String], input: Data = Data()) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = arguments
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(input)
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failed(description: "python exit \(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self)
    }
}
