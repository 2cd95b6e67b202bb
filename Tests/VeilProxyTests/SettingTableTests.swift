import Testing
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The declarations in `Setting.all`: each is complete, its default is a value it accepts (and
/// changes nothing), its examples are accepted and land somewhere, and the sources keep their
/// precedence.
@Suite("setting declarations")
struct SettingTableTests {
    static let subcommands: [(String, Setting.Subcommands)] = [("run", .run), ("relay", .relay), ("resolve", .resolve), ("ca", .ca)]

    /// The builder's whole state, to compare two builders.
    static func state(_ b: ConfigurationBuilder) -> String {
        var s = ""
        dump(b, to: &s)
        return s
    }

    /// The example values, with the files that settings read made for real.
    static func samples(_ s: Setting) throws -> [String] {
        switch s.name {
        case "auth-file": [try SettingFiles.make("alice:$5$veiltests$dd0/wMlG7MPbUekHcVCnyOI8hdFax/uMcAl9rYVaQy7\n")]
        case "relay-secret-file", "secret-file": [try SettingFiles.make("a-secret-read-from-a-file-0123456789\n")]
        case "ech-config": ["origin.example=@" + (try SettingFiles.make(ECHConfigSettingTests.bsslBase64 + "\n")),
                            "origin.example=" + ECHConfigSettingTests.bsslBase64]
        default: s.kind == .flag ? ["true"] : s.examples
        }
    }

    static func builder(for s: Setting) -> ConfigurationBuilder {
        ConfigurationBuilder(for: s.subcommands.contains(.run) ? .run : .relay)
    }

    @Test func namesAreConfigKeysAndUniquePerSubcommand() throws {
        for (label, sub) in Self.subcommands {
            let names = Setting.taken(by: sub).map(\.name)
            #expect(Set(names).count == names.count, "\(label): a name is declared twice: \(names)")
            for n in names {
                #expect(throws: Never.self, "\(label): '\(n)' is not a config key") { try ConfigFile(text: "\(n) x", path: "t") }
            }
        }
        #expect(!Setting.taken(by: .run).isEmpty && !Setting.taken(by: .relay).isEmpty)
    }

    /// `veil resolve` and `veil ca` read the config file and `VEIL_*` of `veil run`: their flags
    /// must be settings of `veil run`.
    @Test func resolveAndCAFlagsAreRunSettings() {
        for s in Setting.all where s.subcommands.contains(.resolve) || s.subcommands.contains(.ca) {
            #expect(s.subcommands.contains(.run), "\(s.name)")
        }
    }

    @Test(arguments: Setting.all.map { ($0.name, $0) })
    func isDocumented(name: String, setting s: Setting) {
        #expect(s.help.count > 10 && s.help.hasSuffix("."), "\(name): help '\(s.help)'")
        #expect(!s.details.isEmpty && !s.placeholder.isEmpty, "\(name)")
        #expect(s.kind == .flag || !s.examples.isEmpty, "\(name) has no example")
        #expect(s.kind != .flag || s.defaultText(in: Self.builder(for: s)) == "false", "\(name): a switch is off by default")
    }

    /// A default shown as a value is accepted; the builder's own default, applied, changes nothing.
    @Test(arguments: Setting.all.map { ($0.name, $0) })
    func defaultIsAValue(name: String, setting s: Setting) throws {
        let fresh = Self.builder(for: s)
        guard let text = s.defaultText(in: fresh) else { return }
        var b = fresh
        try b.apply(key: s.name, value: text, origin: "default")
        if case .current = s.defaultValue {
            #expect(Self.state(b) == Self.state(fresh), "\(name): applying its default '\(text)' changed the configuration")
        }
    }

    /// Each example is accepted and lands somewhere (the builder's state changes).
    @Test(arguments: Setting.all.map { ($0.name, $0) })
    func examplesLand(name: String, setting s: Setting) throws {
        let fresh = Self.builder(for: s)
        for v in try Self.samples(s) {
            var b = fresh
            try b.apply(key: s.name, value: v, origin: "example")
            // (`workers`'s example may be this machine's default)
            #expect(Self.state(b) != Self.state(fresh) || s.currentText(in: fresh) == v, "\(name) \(v) changed nothing")
        }
    }

    /// Text that is not a value gets the origin and the setting's name in its message.
    /// Settings that take any text (paths, names, lists checked later): only an empty one is refused.
    static let freeText: Set = ["listen-tls-name", "home", "upstream-ca", "keylog", "upstream-groups", "doh-url",
                                "dot-server", "resolver-ca", "record-log-file", "allow", "deny", "relay-secret", "secret"]

    @Test(arguments: Setting.all.map { ($0.name, $0) })
    func refusesBadValues(name: String, setting s: Setting) {
        var b = Self.builder(for: s)
        do {
            try b.apply(key: s.name, value: "not a value\u{1}", origin: "--\(name)")
            #expect(Self.freeText.contains(name), "\(name) accepted garbage")
        } catch {
            #expect(error.description.hasPrefix("--\(name): ") && error.description.count > name.count + 10, "\(error)")
        }
        #expect(throws: ConfigurationBuilder.Error.self, "\(name) accepted an empty value") {
            try b.apply(key: s.name, value: "", origin: "t")
        }
    }

    @Test func switchesTakeBareKeysAndWords() throws {
        var b = ConfigurationBuilder()
        try b.apply(key: "split-hello", value: nil, origin: "file")
        #expect(b.config.splitHello)
        try b.apply(key: "split-hello", value: "off", origin: "file")
        #expect(!b.config.splitHello)
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "split-hello", value: "maybe", origin: "t") }
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "listen", value: nil, origin: "t") }
    }

    @Test func environmentNames() throws {
        var seen: Set<String> = []
        for s in Setting.taken(by: .run) {
            for e in s.environment {
                #expect(seen.insert(e.name).inserted, "\(e.name) sets two settings")
            }
            let own = "VEIL_" + s.name.uppercased().replacing("-", with: "_")
            #expect(s.environment.contains { $0.name == own }, "\(s.name) has no \(own)")
        }
        var b = ConfigurationBuilder()
        try b.apply(environment: ["SSLKEYLOGFILE": "/tmp/a", "VEIL_RELAY_SECRET": "", "VEIL_RECORD_LOG": "records", "VEIL_RESOLVE": "a.test:443:127.0.0.1"])
        #expect(b.config.keylogFile == "/tmp/a" && b.config.recordLog == .records && b.config.staticResolve.count == 1)
        try b.apply(environment: ["SSLKEYLOGFILE": "/tmp/a", "VEIL_KEYLOG": "/tmp/b"])
        #expect(b.config.keylogFile == "/tmp/b")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(environment: ["VEIL_LISTEN": ""]) }
    }

    /// `veil relay` takes VEIL_SECRET and nothing meant for `veil run`.
    @Test func relayTakesOnlyItsSecretFromTheEnvironment() throws {
        var b = ConfigurationBuilder(for: .relay)
        let before = Self.state(b)
        try b.apply(environment: ["VEIL_HOME": "/x", "VEIL_WORKERS": "3", "VEIL_LISTEN": "127.0.0.1:1", "VEIL_MAX_PER_CLIENT": "9"])
        #expect(Self.state(b) == before)
        try b.apply(environment: ["VEIL_SECRET": "from-the-environment-0123456789"])
        #expect(b.relayServerSecret == "from-the-environment-0123456789")
        #expect(throws: ConfigurationBuilder.Error.self) { try b.apply(key: "mode", value: "intercept", origin: "t") }
        let c = try b.build()
        #expect(c.relayServer?.allowedPorts == [443...443] && !c.plainListener && c.mode == .passthrough)
        #expect(c.listenTLS?.description == "127.0.0.1:8443" && c.resolvers == [.system])
        #expect(c.rules.deny.count == RelayServerSettings.privateRanges.count)
    }

    @Test func laterSourcesWinAndListsAccumulate() throws {
        var b = ConfigurationBuilder()
        try b.apply(file: ConfigFile(text: "workers 2\nresolve a.test:443:127.0.0.1\n", path: "f"))
        try b.apply(environment: ["VEIL_WORKERS": "3", "VEIL_RESOLVE": "b.test:443:127.0.0.1"])
        try b.apply(key: "resolve", value: "c.test:443:127.0.0.1", origin: "--resolve")
        #expect(b.config.workers == 3)
        try b.apply(key: "workers", value: "4", origin: "--workers")
        #expect(b.config.workers == 4)
        #expect(b.config.staticResolve.map(\.host) == ["a.test", "b.test", "c.test"])
    }

    @Test func relayPortsAndPrivateRanges() throws {
        var b = ConfigurationBuilder(for: .relay)
        try b.apply(key: "allow-port", value: "443,8443", origin: "t")
        try b.apply(key: "allow-port", value: "8000-9000", origin: "t")
        let strict = try b.build()
        #expect(strict.relayServer?.allowedPorts == [443...443, 8443...8443, 8000...9000])
        try b.apply(key: "allow-private", value: "true", origin: "t")
        #expect(strict.rules.deny.count == RelayServerSettings.privateRanges.count)
        #expect(try b.build().rules.deny.isEmpty)
    }
}

/// Files for the settings that read theirs when given.
enum SettingFiles {
    static func make(_ content: String) throws -> String {
        var template = Array("/tmp/veil-setting-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw Failure() }
        defer { close(fd) }
        let bytes = Array(content.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw Failure() }
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    struct Failure: Error {}
}
