import ArgumentParser
import Testing
@testable import VeilCLI
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The flags made from `Setting.all`: every setting is a flag of the subcommands that take it,
/// in `--help`, the completion scripts and the man page's source (`--experimental-dump-help`),
/// and a value given as a flag, as its `VEIL_*` variable or in the config file lands the same.
@Suite("settings as flags")
struct SettingFlagsTests {
    static func state(_ b: ConfigurationBuilder) -> String {
        var s = ""
        dump(b, to: &s)
        return s
    }

    /// The flags `args` give to `subcommand`, as `name value` pairs.
    static func given(_ subcommand: Setting.Subcommands, _ args: [String]) throws -> [(name: String, value: String)] {
        switch subcommand {
        case .run: try SettingFlags<Run, AllSections>.parse(args).given
        case .relay: try SettingFlags<Relay, AllSections>.parse(args).given
        case .resolve: try SettingFlags<Resolve, AllSections>.parse(args).given
        default: try SettingFlags<CA.HomeOption, AllSections>.parse(args).given
        }
    }

    static func samples(_ s: Setting) throws -> [String] {
        switch s.name {
        case "auth-file": [try file("alice:$5$veiltests$dd0/wMlG7MPbUekHcVCnyOI8hdFax/uMcAl9rYVaQy7\n")]
        case "relay-secret-file", "secret-file": [try file("a-secret-read-from-a-file-0123456789\n")]
        default: s.kind == .flag ? ["true", "false"] : s.examples
        }
    }

    static func file(_ content: String) throws -> String {
        var template = Array("/tmp/veil-flag-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        defer { close(fd) }
        let bytes = Array(content.utf8)
        try #require(write(fd, bytes, bytes.count) == bytes.count)
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let cases: [(String, Setting.Subcommands, Setting)] = [("run", .run), ("relay", .relay), ("resolve", .resolve), ("ca", .ca)]
        .flatMap { label, sub in Setting.taken(by: sub).map { ("\(label) --\($0.name)", sub, $0) } }

    @Test(arguments: cases)
    func flagEnvironmentAndFileAgree(label: String, subcommand: Setting.Subcommands, setting s: Setting) throws {
        let fresh = ConfigurationBuilder(for: subcommand)
        for v in try Self.samples(s) {
            let args = s.kind == .flag ? [v == "true" ? "--\(s.name)" : "--no-\(s.name)"] : ["--\(s.name)", v]
            let given = try Self.given(subcommand, args)
            #expect(given.count == 1 && given.first?.name == s.name && given.first?.value == v, "\(label): \(given)")
            var byFlag = fresh
            for (name, value) in given { try byFlag.apply(key: name, value: value, origin: "--\(name)") }
            // (`workers`'s example may be this machine's default)
            #expect(Self.state(byFlag) != Self.state(fresh) || s.currentText(in: fresh) == v || v == "false", "\(label) \(v) changed nothing")

            // `veil relay` reads only the variables of its own settings (VEIL_SECRET).
            let readsEnvironment = subcommand != .relay || !s.subcommands.contains(.run)
            for variable in s.environment where readsEnvironment {
                var byEnvironment = fresh
                try byEnvironment.apply(environment: [variable.name: v])
                #expect(Self.state(byEnvironment) == Self.state(byFlag), "\(label): \(variable.name)=\(v)")
            }
            if subcommand != .relay {
                var byFile = fresh
                try byFile.apply(file: ConfigFile(text: v == "true" && s.kind == .flag ? s.name : "\(s.name) \(v)", path: "t"))
                #expect(Self.state(byFile) == Self.state(byFlag), "\(label): file line")
            } else {
                #expect(!readsEnvironment || s.environment.isEmpty || s.name == "secret", "veil relay takes only VEIL_SECRET")
            }
        }
    }

    @Test func repeatedFlagsAccumulateInOrder() throws {
        let given = try Self.given(.run, ["--resolve", "a.test:443:127.0.0.1", "--workers", "3", "--resolve", "b.test:443:127.0.0.1"])
        #expect(given.map(\.name) == ["resolve", "resolve", "workers"])
        #expect(given.map(\.value) == ["a.test:443:127.0.0.1", "b.test:443:127.0.0.1", "3"])
        #expect(throws: (any Error).self) { try Self.given(.run, ["--no-such-setting", "1"]) }
        #expect(throws: (any Error).self) { try Self.given(.resolve, ["--listen", "127.0.0.1:1"]) }
    }

    @Test func helpListsEverySettingWithItsHelp() {
        let help: [(Setting.Subcommands, String)] = [
            (.run, Run.helpMessage(columns: 100_000)), (.relay, Relay.helpMessage(columns: 100_000)),
            (.resolve, Resolve.helpMessage(columns: 100_000)), (.ca, CA.Path.helpMessage(columns: 100_000)),
        ]
        for (sub, text) in help {
            for s in Setting.taken(by: sub) {
                #expect(text.contains("--\(s.name)") && text.contains(s.help), "\(s.name) missing in:\n\(text)")
            }
        }
    }

    @Test func completionsAndManualSourceCoverEverySetting() {
        let scripts = CompletionShell.allCases.map { Veil.completionScript(for: $0) }
        let dump = Veil._dumpHelp().replacing("\\/", with: "/")
        for s in Setting.all {
            for script in scripts { #expect(script.contains(s.name), "\(s.name) not in a completion script") }
            #expect(dump.contains("\"\(s.name)\""), "\(s.name) not in --experimental-dump-help")
            #expect(dump.contains(s.help.split(separator: "\n")[0].prefix(30)), "\(s.name)'s help not in --experimental-dump-help")
        }
    }
}
