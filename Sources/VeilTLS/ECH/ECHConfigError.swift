/// What is wrong with an ECHConfigList (RFC 9849 section 4): the bytes do not parse, or they
/// parse and no config in them is one Veil can use (each config's reason is kept).
public enum ECHConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The list's bytes are not an ECHConfigList: says which field and why.
    case malformed(String)
    /// The list holds no config at all.
    case empty
    /// Every config was skipped; one reason per config, in list order.
    case noUsableConfig([String])

    public var description: String {
        switch self {
        case .malformed(let what): "malformed ECHConfigList: " + what
        case .empty: "empty ECHConfigList"
        case .noUsableConfig(let reasons): "no usable ECH config: " + reasons.joined(separator: "; ")
        }
    }
}
