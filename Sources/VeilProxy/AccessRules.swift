/// Allow / deny rules over CONNECT targets.
///
/// Evaluation: the first matching deny pattern denies; otherwise, when there are allow
/// patterns, the target must match one of them; with no allow patterns everything not denied
/// is allowed.
///
///     let rules = try AccessRules(allow: [], deny: ["*:22"])
///     rules.check(try HostPort(parsing: "localhost:22"))
///     // .denied(reason: "target localhost:22 denied by rule 'deny *:22'")
public struct AccessRules: Sendable {
    /// The outcome of `check`.
    public enum Decision: Sendable, Equatable {
        /// The target may be connected to.
        case allowed
        /// The target is refused; `reason` is one line suitable for a 403 body and the log.
        case denied(reason: String)
    }

    /// Patterns of which at least one must match (when non-empty).
    public let allow: [HostPattern]
    /// Patterns of which none may match.
    public let deny: [HostPattern]

    /// Rules from parsed patterns.
    public init(allow: [HostPattern] = [], deny: [HostPattern] = []) {
        self.allow = allow
        self.deny = deny
    }

    /// Rules from pattern strings; throws the first `HostPattern.ParseError`.
    public init(allow: [String], deny: [String]) throws(HostPattern.ParseError) {
        var allowPatterns: [HostPattern] = []
        for text in allow { allowPatterns.append(try HostPattern(parsing: text)) }
        var denyPatterns: [HostPattern] = []
        for text in deny { denyPatterns.append(try HostPattern(parsing: text)) }
        self.init(allow: allowPatterns, deny: denyPatterns)
    }

    /// Rules that allow everything.
    public static let allowAll = AccessRules()

    /// Decides whether `target` may be connected to.
    public func check(_ target: HostPort) -> Decision {
        if let rule = deny.first(where: { $0.matches(target) }) {
            return .denied(reason: "target \(target) denied by rule 'deny \(rule.text)'")
        }
        if !allow.isEmpty, !allow.contains(where: { $0.matches(target) }) {
            return .denied(reason: "target \(target) not matched by any allow rule")
        }
        return .allowed
    }
}
