/// How a setting's text becomes a value (with the message when it cannot), and a value text
/// again (for defaults). The same parse serves flags, environment variables and the file.
public struct SettingType<Value>: Sendable {
    typealias Invalid = InvalidSettingValue

    let placeholder: String
    let completion: SettingCompletion
    /// A true/false switch: a bare key (nil text) means true.
    let isSwitch: Bool
    let parse: @Sendable (_ text: String?, _ name: String) throws(Invalid) -> Value
    let format: @Sendable (Value) -> String

    /// A value type that needs a non-empty text; `convert` gets it.
    init(
        _ placeholder: String, completion: SettingCompletion = .none,
        format: @escaping @Sendable (Value) -> String,
        convert: @escaping @Sendable (_ text: String, _ name: String) throws(Invalid) -> Value
    ) {
        self.placeholder = placeholder
        self.completion = completion
        self.isSwitch = false
        self.format = format
        self.parse = { text, name throws(Invalid) in
            guard let text, !text.isEmpty else { throw Invalid("'\(name)' needs a value") }
            return try convert(text, name)
        }
    }

    private init(switch format: @escaping @Sendable (Value) -> String,
                 parse: @escaping @Sendable (String?, String) throws(Invalid) -> Value) {
        placeholder = "true|false"
        completion = .choices(["true", "false"])
        isSwitch = true
        self.format = format
        self.parse = parse
    }
}

/// Why a text is not a setting's value; the caller puts the origin (`--flag`, `FILE:LINE`) in
/// front.
public struct InvalidSettingValue: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension SettingType where Value == String {
    /// Any non-empty text.
    static func text(_ placeholder: String, completion: SettingCompletion = .none) -> SettingType {
        SettingType(placeholder, completion: completion, format: { $0 }, convert: { text, _ in text })
    }

    static func file(_ placeholder: String = "FILE") -> SettingType { text(placeholder, completion: .file) }
}

extension SettingType where Value == Bool {
    /// `true`, `yes`, `on`, `1` / `false`, `no`, `off`, `0`; a bare key is true.
    static let bool = SettingType(switch: { String($0) }) { text, name throws(Invalid) in
        guard let text else { return true }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw Invalid("'\(name)' takes true or false, not '\(text)'")
        }
    }
}

extension SettingType where Value == Double {
    /// Seconds, zero or more (fractions allowed).
    static let seconds = SettingType("SECONDS", format: formatSeconds) { text, name throws(Invalid) in
        guard let d = Double(text), d >= 0, d.isFinite else { throw Invalid("'\(name)' takes seconds, not '\(text)'") }
        return d
    }

    /// Seconds, more than zero.
    static let positiveSeconds = SettingType("SECONDS", format: formatSeconds) { text, name throws(Invalid) in
        let d = try seconds.parse(text, name)
        guard d > 0 else { throw Invalid("\(name) must be more than 0") }
        return d
    }

    private static func formatSeconds(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }
}

extension SettingType where Value: FixedWidthInteger & Sendable {
    /// A whole number in `range`.
    static func number(_ range: ClosedRange<Int>, _ placeholder: String = "N") -> SettingType {
        SettingType(placeholder, format: { String($0) }) { text, name throws(Invalid) in
            guard let n = Int(text), range.contains(n), let v = Value(exactly: n) else {
                throw Invalid("'\(name)' takes a number from \(range.lowerBound) to \(range.upperBound), not '\(text)'")
            }
            return v
        }
    }
}

extension SettingType where Value: RawRepresentable & CaseIterable & Sendable, Value.RawValue == String {
    /// One of the enumeration's raw values.
    static var choice: SettingType {
        let names = Value.allCases.map(\.rawValue)
        return SettingType(names.joined(separator: "|"), completion: .choices(names), format: { $0.rawValue }) {
            text, name throws(Invalid) in
            guard let v = Value(rawValue: text) else {
                throw Invalid("\(name) '\(text)' is not one of \(names.joined(separator: ", "))")
            }
            return v
        }
    }
}
