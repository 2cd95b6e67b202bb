import ArgumentParser
import VeilProxy

/// The flags of one section of a subcommand's settings, made from their declarations in
/// `Setting.all` instead of one property each. swift-argument-parser finds a command's options
/// by reflecting on its arguments types (`Mirror`, which asks `customMirror`) and reads their
/// values through `Decodable`; both are answered here from the table, so usage, `--help`, the
/// man page (`--experimental-dump-help`) and the completion scripts list every setting as if it
/// were an `@Option` or `@Flag` property: `--name VALUE`, `--name`/`--no-name` for switches,
/// repeatable `--name VALUE...`.
struct SettingFlags<Command: SettingsCommand, Section: SettingSectionMarker>: ParsableArguments, CustomReflectable {
    /// The flags given, as `name value` pairs in table order.
    private(set) var given: [(name: String, value: String)] = []

    init() {}

    static var settings: [Setting] {
        Setting.taken(by: Command.subcommand).filter { Section.section == nil || $0.section == Section.section }
    }

    init(from decoder: Decoder) throws {
        let values = try decoder.container(keyedBy: Key.self)
        for s in Self.settings {
            let key = Key(stringValue: s.name)
            switch s.kind {
            case .value:
                if let v = try values.decode(Option<String?>.self, forKey: key).wrappedValue { given.append((s.name, v)) }
            case .flag:
                if let on = try values.decode(Flag<Bool?>.self, forKey: key).wrappedValue { given.append((s.name, String(on))) }
            case .list:
                for v in try values.decode(Option<[String]>.self, forKey: key).wrappedValue { given.append((s.name, v)) }
            }
        }
    }

    var customMirror: Mirror {
        let defaults = ConfigurationBuilder(for: Command.subcommand)
        return Mirror(self, children: Self.settings.map { s -> Mirror.Child in
            let name = NameSpecification.customLong(s.name)
            let value = s.placeholder.lowercased()
            let completion: CompletionKind? = switch s.completion {
            case .none: nil
            case .file: .file()
            case .directory: .directory
            case .choices(let words): .list(words)
            }
            var help = s.help
            if let d = s.defaultDescription(in: defaults) {
                help += s.kind == .flag ? " (default: --\(d == "true" ? "" : "no-")\(s.name))" : " (default: \(d))"
            }
            if s.kind == .list { help += " Repeatable." }
            let argumentHelp = ArgumentHelp(help, valueName: value)
            switch s.kind {
            case .value:
                return (s.name, Option<String?>(name: name, help: argumentHelp, completion: completion))
            case .flag:
                return (s.name, Flag<Bool?>(name: name, inversion: .prefixedNo, help: argumentHelp))
            case .list:
                return (s.name, Option<[String]>(wrappedValue: [], name: name, parsing: .singleValue,
                                                 help: argumentHelp, completion: completion))
            }
        })
    }

    private struct Key: CodingKey {
        let stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A subcommand whose flags come from `Setting.all`.
protocol SettingsCommand {
    static var subcommand: Setting.Subcommands { get }
}

/// A section of `Setting.all` as a type (nil: every setting of the subcommand).
protocol SettingSectionMarker {
    static var section: SettingSection? { get }
}

extension SettingSectionMarker {
    /// The title of the section's group in `--help`.
    static var title: String { section?.title ?? "" }
}

enum Listeners: SettingSectionMarker { static let section: SettingSection? = .listeners }
enum Interception: SettingSectionMarker { static let section: SettingSection? = .interception }
enum Names: SettingSectionMarker { static let section: SettingSection? = .names }
enum Logs: SettingSectionMarker { static let section: SettingSection? = .logs }
enum Access: SettingSectionMarker { static let section: SettingSection? = .access }
enum Capacity: SettingSectionMarker { static let section: SettingSection? = .capacity }
enum RelayClient: SettingSectionMarker { static let section: SettingSection? = .relayClient }
enum RelayServer: SettingSectionMarker { static let section: SettingSection? = .relayServer }
enum AllSections: SettingSectionMarker { static let section: SettingSection? = nil }

extension SettingsCommand {
    /// The settings this subcommand was given (config file and environment where it takes them,
    /// then `flags`), or the first value error, with the subcommand's usage.
    static func builder(configPath: String? = nil, flags: [[(name: String, value: String)]]) throws -> ConfigurationBuilder {
        try SettingSources.builder(for: subcommand, configPath: configPath, flags: flags.flatMap { $0 })
    }

    /// Blanks the secrets given as flags in this process's arguments, saying so through `say`.
    static func scrubSecrets(_ say: (String) -> Void) {
        for s in Setting.taken(by: subcommand) where s.isSecret {
            // `--relay-token @FILE` names a file, not the secret: left as it is.
            let takesFile = s.placeholder.hasSuffix("@FILE")
            guard SecretArgument.scrub("--\(s.name)", exceptFileReference: takesFile) else { continue }
            let variable = s.environment.first.map { " or \($0.name)" } ?? ""
            let file = takesFile ? "--\(s.name) @FILE" : "--\(s.name)-file FILE"
            say(SecretArgument.warning(flag: "--\(s.name)", instead: "\(file)\(variable)"))
        }
    }
}
