import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// Settings from the config file, the environment (`VEIL_<NAME>`) and flags arrive here as
/// `name value` pairs, applied in that order so that flags win; each is parsed, checked and
/// landed by its declaration in `Setting.all`. `build()` then checks what needs several settings
/// together and gives the `ProxyConfiguration`.
public struct ConfigurationBuilder {
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// `.run` (also for `veil resolve` and `veil ca`: the config file's keys) or `.relay`.
    public let subcommand: Setting.Subcommands
    public internal(set) var config = ProxyConfiguration()
    var listenTLS: ListenAddress.Parsed?
    var allow: [String] = []
    var deny: [String] = []
    /// `relay` and `relay-fingerprint` pair by order; `relay-token`s are whole relays.
    var relayAddresses: [SocketAddress] = []
    var relayFingerprints: [RelayFingerprint] = []
    var relayTokens: [RelayToken] = []
    var relaySecret: String?
    /// `veil relay`: its limits, allowed ports (443 unless given) and secret.
    var relayServer = RelayServerSettings(secret: "")
    var relayPorts: [[ClosedRange<UInt16>]] = []
    var relayClientAuth: RelayServerSettings.ClientAuth?
    public internal(set) var relayServerSecret: String?

    /// Starts from the defaults of `veil run`, or of `veil relay`: a TLS listener only,
    /// pass-through, its own home, names resolved by the system (it runs outside the observed
    /// network).
    public init(for subcommand: Setting.Subcommands = .run) {
        self.subcommand = subcommand == .relay ? .relay : .run
        config.workers = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        if self.subcommand == .relay {
            listenTLS = ListenAddress.Parsed(address: .loopback(port: 8443), byName: false)
            config.plainListener = false
            config.mode = .passthrough
            config.allowSNIMismatch = true
            config.home = ProxyConfiguration.defaultHome(".veil-relay")
            config.resolvers = [.system]
        }
    }

    /// The settings this builder takes (from a file, the environment or flags).
    public var settings: [Setting] { Setting.taken(by: subcommand) }

    /// Applies the settings of a config file.
    public mutating func apply(file: ConfigFile) throws(Error) {
        for e in file.entries {
            try apply(key: e.key, value: e.value, origin: "\(file.path):\(e.line)")
        }
    }

    /// Applies the environment variables of the settings (`VEIL_<NAME>`, SSLKEYLOGFILE...).
    /// `veil relay` takes only those of its own settings (VEIL_SECRET), none meant for `veil run`.
    public mutating func apply(environment: [String: String]) throws(Error) {
        for setting in settings where subcommand == .run || !setting.subcommands.contains(.run) {
            for variable in setting.environment {
                guard let value = environment[variable.name], !(variable.emptyIsUnset && value.isEmpty) else { continue }
                try setting.land(&self, value, "environment \(variable.name)")
            }
        }
    }

    /// Applies one setting. `value == nil` means a bare key (true for a switch).
    public mutating func apply(key: String, value: String?, origin: String) throws(Error) {
        guard let setting = Setting.named(key, for: subcommand) else { throw Error("\(origin): unknown setting '\(key)'") }
        try setting.land(&self, value, origin)
    }

    /// The relays: each `relay-token`, then each `relay` with the `relay-fingerprint` of the same
    /// rank and the one secret.
    private func relays(for who: String) throws(Error) -> [RelayEndpoint] {
        var out = relayTokens.map { RelayEndpoint(address: $0.address, fingerprint: $0.fingerprint, secret: $0.secret) }
        guard !relayAddresses.isEmpty || out.isEmpty else { return out }
        guard !relayAddresses.isEmpty else { throw Error("\(who) needs relay IP:PORT (or relay-token)") }
        guard !relayFingerprints.isEmpty else {
            throw Error("\(who) needs relay-fingerprint (veil relay prints it at start-up)")
        }
        guard relayFingerprints.count == relayAddresses.count else {
            throw Error("relay-fingerprint: one per relay, in the same order (\(relayAddresses.count) relay, \(relayFingerprints.count) relay-fingerprint)")
        }
        guard let relaySecret else {
            throw Error("\(who) needs the relay's secret: relay-secret-file, relay-secret or VEIL_RELAY_SECRET")
        }
        if let problem = SecretFile.problem(with: relaySecret) { throw Error("relay secret: \(problem)") }
        for (address, fingerprint) in zip(relayAddresses, relayFingerprints) {
            out.append(RelayEndpoint(address: address, fingerprint: fingerprint, secret: relaySecret))
        }
        guard out.count <= 64 else { throw Error("at most 64 relays (\(out.count) given)") }
        return out
    }

    /// The finished configuration: rules compiled, the relay's settings checked together.
    public func build() throws(Error) -> ProxyConfiguration {
        var c = config
        if let listenTLS {
            c.listenTLS = listenTLS.address
            if listenTLS.byName && c.listenTLSName == nil { c.listenTLSName = "localhost" }
        }
        var deny = deny
        if subcommand == .relay {
            var server = relayServer
            if !relayPorts.isEmpty { server.allowedPorts = relayPorts.flatMap { $0 } }
            if !server.allowPrivate { deny += RelayServerSettings.privateRanges }
            server.secret = relayServerSecret ?? ""
            server.clientAuth = relayClientAuth ?? (server.clientFingerprints.isEmpty ? .secret : .both)
            if server.clientAuth != .secret && server.clientFingerprints.isEmpty {
                throw Error("client-auth \(server.clientAuth.rawValue) needs at least one client-fingerprint (veil run prints its own at start-up)")
            }
            c.relayServer = server
        }
        do {
            c.rules = try AccessRules(allow: allow, deny: deny)
        } catch {
            throw Error("\(error)")
        }
        if subcommand == .relay && c.resolvers.contains(.relay) {
            throw Error("resolver relay: veil relay resolves target names itself (system, doh, dot or static), not through another relay")
        }
        if c.usesRelay || c.resolvers.contains(.relay) {
            c.relays = try relays(for: c.usesRelay ? "route tunnel" : "resolver relay")
        }
        return c
    }
}
