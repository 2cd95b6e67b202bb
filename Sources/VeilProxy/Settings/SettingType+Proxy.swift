import VeilRuntime
import VeilResolver
import VeilWire

/// The value types of Veil's own settings.
extension SettingType where Value == ListenAddress.Parsed {
    /// IP:PORT, [IPv6]:PORT or localhost:PORT.
    static let listen = SettingType("IP:PORT", format: { $0.address.description }) { text, name throws(Invalid) in
        switch ListenAddress.parse(text, what: name) {
        case .success(let p): return p
        case .failure(let e): throw Invalid(e.description)
        }
    }
}

extension SettingType where Value == SocketAddress {
    /// A listener's IP:PORT, [IPv6]:PORT or localhost:PORT, as an address.
    static let listenAddress = SettingType("IP:PORT", format: { $0.description }) { text, name throws(Invalid) in
        try SettingType<ListenAddress.Parsed>.listen.parse(text, name).address
    }

    /// IP:PORT or [IPv6]:PORT, never a name (`why` says why not).
    static func address(why: String = "") -> SettingType {
        SettingType("IP:PORT", format: { $0.description }) { text, name throws(Invalid) in
            guard let a = SocketAddress(parsing: text) else { throw Invalid("\(name) '\(text)' is not IP:PORT or [IPv6]:PORT\(why)") }
            return a
        }
    }
}

extension SettingType where Value == HostPattern {
    static let pattern = SettingType("PATTERN[:PORTS]", format: { $0.text }) { text, _ throws(Invalid) in
        do { return try HostPattern(parsing: text) } catch { throw Invalid("\(error)") }
    }
}

extension SettingType where Value == SNIPolicy {
    static let sni = SettingType("real|omit|cover:NAME", format: { $0.description }) { text, name throws(Invalid) in
        guard let p = SNIPolicy(parsing: text) else { throw Invalid("\(name) '\(text)' is not real, omit or cover:NAME") }
        return p
    }
}

extension SettingType {
    /// `PATTERN=VALUE` per-host rules (`sni-rule`, `route-rule`); the last `=` separates.
    static func rule<Choice>(
        _ choices: String, _ value: @escaping @Sendable (String) -> Choice?
    ) -> SettingType where Value == (pattern: HostPattern, choice: Choice) {
        SettingType("PATTERN=\(choices)", format: { "\($0.pattern.text)=\($0.choice)" }) { text, name throws(Invalid) in
            guard let eq = text.lastIndex(of: "="), let c = value(String(text[text.index(after: eq)...])) else {
                throw Invalid("\(name) '\(text)' is not PATTERN=\(choices)")
            }
            do { return (try HostPattern(parsing: text[..<eq]), c) } catch { throw Invalid("\(error)") }
        }
    }
}

extension SettingType where Value == UInt16 {
    /// A TLS version, 1.2 or 1.3, as its protocol number (0x0303, 0x0304).
    static let tlsVersion = SettingType("1.2|1.3", completion: .choices(["1.2", "1.3"]),
                                        format: { $0 == 0x0304 ? "1.3" : "1.2" }) { text, name throws(Invalid) in
        switch text {
        case "1.2": return 0x0303
        case "1.3": return 0x0304
        default: throw Invalid("\(name) '\(text)' is not 1.2 or 1.3")
        }
    }
}

extension SettingType where Value == [ResolverKind] {
    /// `doh`, `dot`, `relay`, lists of these, `system` alone, or `static` (none).
    static let resolvers = SettingType(
        "doh|dot|relay[,...]|static|system",
        completion: .choices(["doh", "dot", "relay", "doh,dot", "relay,doh", "static", "system"]),
        format: { $0.isEmpty ? "static" : $0.map(\.rawValue).joined(separator: ",") }
    ) { text, name throws(Invalid) in
        if text == "static" { return [] }
        var kinds: [ResolverKind] = []
        for part in text.split(separator: ",") {
            guard let k = ResolverKind(rawValue: String(part)) else {
                throw Invalid("\(name) '\(part)' is not one of static, system, doh, dot, relay")
            }
            if !kinds.contains(k) { kinds.append(k) }
        }
        if kinds.contains(.system) && kinds.count > 1 {
            throw Invalid("\(name) 'system' cannot be combined with doh/dot/relay: a failure would fall back to plain DNS")
        }
        guard !kinds.isEmpty else { throw Invalid("\(name) needs a value") }
        return kinds
    }
}

extension SettingType where Value == StaticResolveEntry {
    static let staticEntry = SettingType("HOST:PORT:ADDR[,ADDR]", format: { $0.description }) { text, _ throws(Invalid) in
        do { return try StaticResolveEntry(parsing: text) } catch { throw Invalid("\(error)") }
    }
}

extension SettingType where Value == RelayFingerprint {
    static let fingerprint = SettingType("HEX", format: { $0.description }) { text, name throws(Invalid) in
        guard let f = RelayFingerprint(parsing: text) else {
            throw Invalid("\(name) is not 64 hex digits (colons optional), as veil relay prints it")
        }
        return f
    }
}

extension SettingType where Value == [ClosedRange<UInt16>] {
    /// `443`, `443,8443`, `8000-9000`.
    static let ports = SettingType("PORTS", format: { ranges in
        ranges.map { $0.lowerBound == $0.upperBound ? "\($0.lowerBound)" : "\($0.lowerBound)-\($0.upperBound)" }
            .joined(separator: ",")
    }) { text, name throws(Invalid) in
        guard let ports = RelayServerSettings.parsePorts(text) else {
            throw Invalid("\(name) '\(text)' is not a port, a list (443,8443) or a range (8000-9000)")
        }
        return ports
    }
}

extension SettingType where Value == String {
    /// A file whose first line is a secret; the value is the secret (never shown).
    static let secretFile = SettingType("FILE", completion: .file, format: { _ in "" }) { text, _ throws(Invalid) in
        do { return try SecretFile.read(text) } catch { throw Invalid("\(error)") }
    }
}

extension SettingType where Value == RelayToken {
    /// `TOKEN` or `@FILE` (the file's first line), as `veil relay` writes it to HOME/relay-token.
    static let relayToken = SettingType("TOKEN|@FILE", completion: .file, format: { _ in "" }) { text, _ throws(Invalid) in
        var token = text
        if text.hasPrefix("@") {
            do { token = try SecretFile.read(String(text.dropFirst())) } catch { throw Invalid("relay token: \(error)") }
        }
        switch RelayToken.parse(token) {
        case .success(let t): return t
        case .failure(let e): throw Invalid(e.description)
        }
    }
}

extension SettingType where Value == ExplicitECHConfig {
    /// `HOST=BASE64` or `HOST=@FILE`, read and checked at once (a bad list names its host).
    static let echConfig = SettingType("HOST=BASE64|@FILE", format: { $0.description }) { text, _ throws(Invalid) in
        do { return try ExplicitECHConfig(parsing: text) } catch { throw Invalid("\(error)") }
    }
}
