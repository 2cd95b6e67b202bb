/// Allow / deny rules over CONNECT targets.
///
/// Evaluation: the first matching deny pattern denies; then a target among the proxy host's
/// own addresses (`ownAddresses`, set when a listener is not on loopback) is denied unless an
/// allow rule names it (a rule for any host, `*`, does not count); otherwise, when there are
/// allow patterns, the target must match one of them; with no allow patterns everything not
/// denied is allowed. Names are checked as written and, once resolved, by every address they
/// lead to (`check(_:resolvedTo:)`).
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
    /// The proxy host's own addresses (loopback, unspecified, every interface's): refused unless
    /// an allow rule names them. Empty while every listener is on loopback.
    public private(set) var ownAddresses: [HostPattern] = []

    /// Rules from parsed patterns.
    public init(allow: [HostPattern] = [], deny: [HostPattern] = []) {
        self.allow = allow
        self.deny = deny
    }

    /// Loopback and unspecified ranges: always the proxy host itself.
    public static let hostRanges = ["0.0.0.0/8", "127.0.0.0/8", "[::]", "[::1]"]

    /// These rules, also refusing `addresses` (the host's interface addresses) and `hostRanges`.
    public func guardingOwnAddresses(_ addresses: [String]) -> AccessRules {
        var r = self
        r.ownAddresses = (AccessRules.hostRanges + addresses.map { $0.contains(":") ? "[\($0)]" : $0 })
            .compactMap { try? HostPattern(parsing: $0) }
        return r
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
        if let reason = ownAddressRefusal(target, named: target) { return .denied(reason: reason) }
        if !allow.isEmpty, !allow.contains(where: { $0.matches(target) }) {
            return .denied(reason: "target \(target) not matched by any allow rule")
        }
        return .allowed
    }

    /// Decides whether the name `target` may be connected to at `address` (an address it
    /// resolved to, with the target's port): deny rules and the host's own addresses apply
    /// to where a name leads too, so that a name cannot reach what its address could not.
    public func check(_ target: HostPort, resolvedTo address: HostPort) -> Decision {
        if let rule = deny.first(where: { $0.matches(address) }) {
            return .denied(reason: "target \(target) resolves to \(address.host), denied by rule 'deny \(rule.text)'")
        }
        if let reason = ownAddressRefusal(address, named: target) { return .denied(reason: reason) }
        return .allowed
    }

    private func ownAddressRefusal(_ address: HostPort, named target: HostPort) -> String? {
        guard ownAddresses.contains(where: { $0.matches(address) }) else { return nil }
        let named = allow.contains { rule in
            if case .any = rule.host { return false }
            return rule.matches(address) || rule.matches(target)
        }
        if named { return nil }
        let what = address == target ? "target \(target) is" : "target \(target) resolves to \(address.host),"
        return "\(what) an address of the proxy host itself, refused because a listener is not on loopback (allow it with an allow rule naming it)"
    }
}
