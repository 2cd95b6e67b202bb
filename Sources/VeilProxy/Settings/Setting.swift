/// One setting, declared once: its name, value type, default, help, validation, where its value
/// lands, and which subcommands take it as a flag. From the table of these (`Setting.all`)
/// follow the flags of `veil run`, `veil relay`, `veil resolve` and `veil ca` (with their
/// `--help`, the man page and the shell completions), the `VEIL_<NAME>` environment variables,
/// the config file keys, README's settings table and conf/veil.conf (see `SettingsDocument`).
public struct Setting: Sendable {
    /// How the setting is written: `--name VALUE`, a switch (`--name`/`--no-name`; a bare key
    /// in a file is true), or a repeatable value whose occurrences accumulate across sources.
    public enum Kind: Sendable, Equatable { case value, flag, list }

    /// An environment variable that sets it.
    public struct EnvironmentName: Sendable, Equatable {
        public let name: String
        /// An empty value counts as unset (secrets, SSLKEYLOGFILE); else it is a value error.
        public let emptyIsUnset: Bool
    }

    /// What `--help`, README and conf/veil.conf show as the default.
    public enum Default: Sendable {
        /// The value the builder starts with, written back as text; nothing when unset.
        case current
        /// A value that acts as the default where the builder holds none (an empty list).
        case literal(String)
        /// Words, not a value (`one per core`).
        case described(String)
    }

    public let name: String
    public let kind: Kind
    /// The value's name in usage and help (`IP:PORT`).
    public let placeholder: String
    public let completion: SettingCompletion
    public let subcommands: Subcommands
    public let section: SettingSection
    /// One or two sentences: `--help`, the man page and conf/veil.conf. Other settings are named
    /// as flags (`--auth-file`); the documents about the config file show them as keys.
    public let help: String
    /// README's description (Markdown); `help` when not given.
    public let details: String
    /// Values that are not the default, for conf/veil.conf (when there is no default to show)
    /// and for the tests.
    public let examples: [String]
    public let environment: [EnvironmentName]
    /// Readable by every local user on a command line: blanked in the process's arguments, with
    /// a warning naming `--NAME-file` and the environment variable instead.
    public let isSecret: Bool
    let defaultValue: Default
    let land: @Sendable (inout ConfigurationBuilder, String?, String) throws(ConfigurationBuilder.Error) -> Void
    let read: @Sendable (ConfigurationBuilder) -> String?

    init<V>(
        _ name: String, _ type: SettingType<V>, kind: Kind, subcommands: Subcommands, section: SettingSection,
        help: String, details: String?, examples: [String], default defaultValue: Default, secret: Bool,
        environment: [EnvironmentName]?,
        land: @escaping @Sendable (inout ConfigurationBuilder, V, String) throws(ConfigurationBuilder.Error) -> Void,
        read: @escaping @Sendable (ConfigurationBuilder) -> V?
    ) {
        self.name = name
        self.kind = kind
        self.placeholder = type.placeholder
        self.completion = type.completion
        self.subcommands = subcommands
        self.section = section
        self.help = help
        self.details = details ?? help
        self.examples = examples
        self.isSecret = secret
        self.defaultValue = defaultValue
        // VEIL_<NAME> for `veil run`'s settings (also read by `veil resolve` and `veil ca`).
        let variable = "VEIL_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
        self.environment = environment ?? (subcommands.contains(.run) ? [EnvironmentName(name: variable, emptyIsUnset: false)] : [])
        self.land = { builder, text, origin throws(ConfigurationBuilder.Error) in
            let value: V
            do { value = try type.parse(text, name) } catch { throw ConfigurationBuilder.Error("\(origin): \(error)") }
            try land(&builder, value, origin)
        }
        let format = type.format
        // A secret is never read back (nothing shows it).
        self.read = { builder in secret ? nil : read(builder).map(format) }
    }

    /// The default as a value (nil: none, or only described in words).
    public func defaultText(in builder: ConfigurationBuilder) -> String? {
        switch defaultValue {
        case .current: return read(builder)
        case .literal(let text): return text
        case .described: return nil
        }
    }

    /// The default as shown to people (nil: none).
    public func defaultDescription(in builder: ConfigurationBuilder) -> String? {
        if case .described(let words) = defaultValue { return words }
        return defaultText(in: builder)
    }

    /// The value this setting has in `builder`, as text (nil: unset, or not readable back).
    public func currentText(in builder: ConfigurationBuilder) -> String? { read(builder) }

    /// Which subcommands take a setting as a flag. `veil run`'s settings are also the config
    /// file's keys and the `VEIL_*` variables of `veil run` and `veil resolve`.
    public struct Subcommands: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let run = Subcommands(rawValue: 1)
        public static let relay = Subcommands(rawValue: 2)
        public static let resolve = Subcommands(rawValue: 4)
        public static let ca = Subcommands(rawValue: 8)
    }
}

/// What a shell completes for a setting's value.
public enum SettingCompletion: Sendable, Equatable {
    case none
    case file
    case directory
    case choices([String])
}

extension Setting {
    /// A setting that replaces one value of the builder.
    static func value<V>(
        _ name: String, _ type: SettingType<V>, _ path: WritableKeyPath<ConfigurationBuilder, V> & Sendable,
        _ subcommands: Subcommands = .run, _ section: SettingSection, help: String, details: String? = nil,
        examples: [String] = [], default defaultValue: Default = .current, secret: Bool = false,
        environment: [EnvironmentName]? = nil
    ) -> Setting {
        Setting(name, type, kind: type.isSwitch ? .flag : .value, subcommands: subcommands, section: section,
                help: help, details: details, examples: examples, default: defaultValue, secret: secret,
                environment: environment, land: { b, v, _ in b[keyPath: path] = v }, read: { $0[keyPath: path] })
    }

    /// A setting whose value is unset by default.
    static func optional<V>(
        _ name: String, _ type: SettingType<V>, _ path: WritableKeyPath<ConfigurationBuilder, V?> & Sendable,
        _ subcommands: Subcommands = .run, _ section: SettingSection, help: String, details: String? = nil,
        examples: [String] = [], default defaultValue: Default = .current, secret: Bool = false,
        environment: [EnvironmentName]? = nil
    ) -> Setting {
        Setting(name, type, kind: .value, subcommands: subcommands, section: section, help: help,
                details: details, examples: examples, default: defaultValue, secret: secret,
                environment: environment, land: { b, v, _ in b[keyPath: path] = v }, read: { $0[keyPath: path] })
    }

    /// A repeatable setting: each value is appended.
    static func list<V>(
        _ name: String, _ type: SettingType<V>, _ path: WritableKeyPath<ConfigurationBuilder, [V]> & Sendable,
        _ subcommands: Subcommands = .run, _ section: SettingSection, help: String, details: String? = nil,
        examples: [String] = [], default defaultValue: Default = .current
    ) -> Setting {
        Setting(name, type, kind: .list, subcommands: subcommands, section: section, help: help,
                details: details, examples: examples, default: defaultValue, secret: false, environment: nil,
                land: { b, v, _ in b[keyPath: path].append(v) }, read: { _ in nil })
    }

    /// A setting with its own landing (it needs the origin, or lands in more than one place).
    static func custom<V>(
        _ name: String, _ type: SettingType<V>, kind: Kind = .value, _ subcommands: Subcommands = .run,
        _ section: SettingSection, help: String, details: String? = nil, examples: [String] = [],
        default defaultValue: Default = .current, secret: Bool = false,
        environment: [EnvironmentName]? = nil,
        land: @escaping @Sendable (inout ConfigurationBuilder, V, String) throws(ConfigurationBuilder.Error) -> Void
    ) -> Setting {
        Setting(name, type, kind: kind, subcommands: subcommands, section: section, help: help,
                details: details, examples: examples, default: defaultValue, secret: secret,
                environment: environment, land: land, read: { _ in nil })
    }
}
