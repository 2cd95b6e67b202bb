/// The documents made from `Setting.all`: conf/veil.conf and README's settings tables. They are
/// committed, written by `make docs`, and the unit tests fail when they are out of date.
public enum SettingsDocument {
    /// conf/veil.conf: every setting of `veil run`, commented out, showing its default (or an
    /// example when it has none), so that the file as it is starts a default Veil.
    public static func exampleConfig() -> String {
        let defaults = ConfigurationBuilder()
        var out = """
            # Veil example configuration. Every setting is the long name of a `veil run` flag without
            # the leading dashes, one per line: `key value`. A bare key means true for switches.
            # Precedence: built-in defaults < this file < VEIL_<KEY> environment variables < flags;
            # repeatable settings accumulate.
            # Use it with:  veil run --config conf/veil.conf   (or VEIL_CONFIG=conf/veil.conf)
            # `make install` puts it in PREFIX/etc/veil/veil.conf, which the systemd unit reads.
            #
            # Every line below is commented out and shows the built-in default (or an example for settings
            # that are off by default), so this file as it is starts the same Veil as no file at all
            # (integration/t00-cli.sh checks that). Uncomment a line to change it.
            #
            # Made by `make docs` from the settings' declarations (Sources/VeilProxy/Settings).

            """
        for section in SettingSection.allCases {
            let settings = Setting.taken(by: .run).filter { $0.section == section }
            guard !settings.isEmpty else { continue }
            let heading = "# --- \(section.title) "
            out += "\n" + heading + String(repeating: "-", count: max(3, width - heading.count)) + "\n"
            if let intro = section.intro { out += "\n" + comment(intro) }
            for s in settings {
                var text = asKeys(s.help)
                if s.kind == .list { text += " Repeatable." }
                if case .described(let words) = s.defaultValue { text += " Default: \(words)." }
                out += "\n" + comment(text)
                let values = s.defaultText(in: defaults).map { [$0] } ?? s.examples
                for v in values { out += "# \(s.name) \(v)\n" }
            }
        }
        return out
    }

    /// README's table of `veil run`'s settings (the config file's keys).
    public static func settingsTable() -> String {
        let defaults = ConfigurationBuilder()
        var out = "| setting | default | meaning |\n|---|---|---|\n"
        for s in Setting.taken(by: .run) {
            out += row("`\(s.name)`" + (s.kind == .list ? " (repeatable)" : ""), s, defaults, keys: true)
        }
        out += "\n`veil resolve` takes \(flags(Setting.taken(by: .resolve))) as flags, and the config file and "
        out += "environment as `veil run` does.\n"
        return out
    }

    /// README's table of `veil relay`'s own flags, and the ones it shares with `veil run`.
    public static func relayTable() -> String {
        let defaults = ConfigurationBuilder(for: .relay)
        var out = "| flag | default | meaning |\n|---|---|---|\n"
        let relay = Setting.taken(by: .relay)
        for s in relay where !s.subcommands.contains(.run) {
            out += row("`--\(s.name)`" + (s.kind == .list ? " (repeatable)" : ""), s, defaults)
        }
        out += "\n`veil relay` also takes \(flags(relay.filter { $0.subcommands.contains(.run) })) as `veil run` "
        out += "does. It reads no config file and no `VEIL_*` variable but `VEIL_SECRET`.\n"
        return out
    }

    private static let width = 95

    private static func row(_ name: String, _ s: Setting, _ defaults: ConfigurationBuilder, keys: Bool = false) -> String {
        let shown: String
        switch s.defaultValue {
        case .described(let words): shown = words
        default: shown = s.defaultText(in: defaults).map { "`\($0)`" } ?? "none"
        }
        let cells = [name, shown, sentence(keys && s.details == s.help ? asKeys(s.help) : s.details)].map { $0.replacingPipes() }
        return "| " + cells.joined(separator: " | ") + " |\n"
    }

    /// `text` with a capital first letter and a full stop.
    private static func sentence(_ text: String) -> String {
        guard let first = text.first else { return text }
        let body = first.isLowercase ? first.uppercased() + text.dropFirst() : text
        return body.hasSuffix(".") ? body : body + "."
    }

    /// `text` with the settings it names as flags (`--auth-file`, as `--help` shows them) named as
    /// config keys (`auth-file`), for the documents about the config file.
    static func asKeys(_ text: String) -> String {
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let rest = text[i...]
            if rest.hasPrefix("--") {
                let after = text.index(i, offsetBy: 2)
                let name = text[after...].prefix { $0.isLetter || $0.isNumber || $0 == "-" }
                out += Setting.all.contains { $0.name == name } ? name : "--" + name
                i = name.endIndex
            } else {
                out.append(text[i])
                i = text.index(after: i)
            }
        }
        return out
    }

    private static func flags(_ settings: [Setting]) -> String {
        settings.map { "`--\($0.name)`" }.joined(separator: ", ")
    }

    /// `text` as `# ` lines at most `width` wide, backquotes removed.
    static func comment(_ text: String) -> String {
        var out = ""
        var line = "#"
        for word in text.split(separator: " ") {
            let w = word.filter { $0 != "`" }
            if line.count + 1 + w.count > width && line != "#" {
                out += line + "\n"
                line = "#"
            }
            line += " " + w
        }
        return out + line + "\n"
    }
}

extension String {
    /// `|` escaped for a Markdown table cell.
    fileprivate func replacingPipes() -> String {
        var out = ""
        for c in self { out += c == "|" ? "\\|" : String(c) }
        return out
    }
}
