import Testing
import VeilProxy
import VeilWire
import VeilResolver

private func configError(_ text: String, path: String = "veil.conf") -> ConfigFile.ParseError? {
    do {
        _ = try ConfigFile(text: text, path: path)
        return nil
    } catch {
        return error
    }
}

@Suite("ConfigFile")
struct ConfigFileTests {
    @Test func typicalFile() throws {
        let text = """
            # Veil configuration
            listen 127.0.0.1:8080

            resolve example.com:443:127.0.0.1
            resolve other.test:443:[::1],10.0.0.2
              deny   *:22    # no SSH
            split-hello
            log-format json
            """
        let c = try ConfigFile(text: text, path: "/etc/veil.conf")
        #expect(c.path == "/etc/veil.conf")
        #expect(c.entries.count == 6)
        #expect(c.entries.map(\.key) == ["listen", "resolve", "resolve", "deny", "split-hello", "log-format"])
        #expect(c.entries.map(\.line) == [2, 4, 5, 6, 7, 8])
        #expect(c.last("listen") == "127.0.0.1:8080")
        #expect(c.values("resolve") == ["example.com:443:127.0.0.1", "other.test:443:[::1],10.0.0.2"])
        #expect(c.last("deny") == "*:22")
        #expect(c.entries[4].value == nil)
        #expect(c.last("split-hello") == "true")
        #expect(c.values("split-hello") == ["true"])
        #expect(c.last("missing") == nil)
        #expect(c.values("missing").isEmpty)
    }

    @Test func lastWins() throws {
        let c = try ConfigFile(text: "listen a:1\nlisten b:2\n", path: "p")
        #expect(c.last("listen") == "b:2")
        #expect(c.lastEntry("listen")?.line == 2)
        #expect(c.values("listen") == ["a:1", "b:2"])
    }

    @Test func flags() throws {
        let c = try ConfigFile(
            text: "split-hello\nquiet false\nverbose YES\nx off\ny 1\nz maybe\n", path: "f.conf")
        #expect(try c.flag("split-hello") == true)
        #expect(try c.flag("quiet") == false)
        #expect(try c.flag("verbose") == true)
        #expect(try c.flag("x") == false)
        #expect(try c.flag("y") == true)
        #expect(try c.flag("absent") == nil)
        #expect(throws: ConfigFile.ParseError(path: "f.conf", line: 6, message: "invalid value 'maybe' for 'z'; expected true or false")) {
            try c.flag("z")
        }
    }

    @Test func comments() throws {
        let c = try ConfigFile(
            text: "#only comment\n   # indented comment\nkey value # trailing\nkey2 a#b\nkey3 a\t# tab comment\nkey4 # just a comment\n",
            path: "p")
        #expect(c.entries.count == 4)
        #expect(c.last("key") == "value")
        #expect(c.last("key2") == "a#b")
        #expect(c.last("key3") == "a")
        #expect(c.lastEntry("key4")?.value == nil)
    }

    @Test func quotedValues() throws {
        let c = try ConfigFile(
            text: #"""
                a "  spaced  "
                b "has # hash"
                c "esc \"q\" and \\ back"
                d ""
                e "x" # comment
                f say "hi"
                """#,
            path: "p")
        #expect(c.last("a") == "  spaced  ")
        #expect(c.last("b") == "has # hash")
        #expect(c.last("c") == #"esc "q" and \ back"#)
        #expect(c.lastEntry("d")?.value == "")
        #expect(c.last("e") == "x")
        #expect(c.last("f") == #"say "hi""#)
    }

    @Test func valueKeepsInnerWhitespace() throws {
        let c = try ConfigFile(text: "user-agent   Mozilla/5.0 (X11;  Linux)   \n", path: "p")
        #expect(c.last("user-agent") == "Mozilla/5.0 (X11;  Linux)")
    }

    @Test func crlfAndBOM() throws {
        let c = try ConfigFile(text: "\u{FEFF}listen a:1\r\n\r\nsplit-hello\r\n", path: "p")
        #expect(c.entries.count == 2)
        #expect(c.last("listen") == "a:1")
        #expect(c.lastEntry("split-hello")?.value == nil)
        #expect(c.lastEntry("split-hello")?.line == 3)
    }

    @Test func emptyFile() throws {
        #expect(try ConfigFile(text: "", path: "p").entries.isEmpty)
        #expect(try ConfigFile(text: "\n\n  \n# x\n", path: "p").entries.isEmpty)
    }

    @Test func unknownKeys() throws {
        let c = try ConfigFile(text: "listen a:1\nlisen b:2\n\nfoo\n", path: "p")
        let unknown = c.unknownKeys(allowed: ["listen", "resolve"])
        #expect(unknown.map(\.key) == ["lisen", "foo"])
        #expect(unknown.map(\.line) == [2, 4])
    }

    @Test func errorHelper() throws {
        let c = try ConfigFile(text: "listen nope\n", path: "/etc/veil.conf")
        let entry = try #require(c.lastEntry("listen"))
        #expect(c.error("invalid address 'nope'", line: entry.line).description == "/etc/veil.conf:1: invalid address 'nope'")
    }

    @Test("errors carry path and line", arguments: [
        ("ok 1\nkey \"unterminated\n", 2, "unterminated quoted value for 'key'"),
        ("key \"a\" b\n", 1, "unexpected text after closing quote for 'key'"),
        ("key \"a\"#b\n", 1, "unexpected text after closing quote for 'key'"),
        ("key \"a\\nb\"\n", 1, #"unknown escape '\n' in quoted value"#),
        ("ok\n\n--listen a:1\n", 3, "write 'listen' without the leading '--'"),
        ("listen=127.0.0.1:8080\n", 1, "expected 'key value', found '=' in 'listen=127.0.0.1:8080'; write 'listen VALUE'"),
        ("Listen a:1\n", 1, "invalid key 'Listen'"),
        ("1key a\n", 1, "invalid key '1key'"),
        ("key_x a\n", 1, "invalid key 'key_x'"),
        ("a\nb\nc\nkey a\u{0}b\n", 4, "control character 0x00 in line"),
        ("key \"a\\", 1, "unterminated quoted value"),
    ])
    func errors(text: String, line: Int, fragment: String) {
        let error = configError(text, path: "conf/veil.conf")
        #expect(error?.path == "conf/veil.conf")
        #expect(error?.line == line, "\(text.debugDescription)")
        #expect(error?.message.contains(fragment) == true, "\(text.debugDescription): \(error?.message ?? "accepted")")
        #expect(error?.description.hasPrefix("conf/veil.conf:\(line): ") == true)
    }
}
