import VeilRuntime

/// Everything `veil run` can be told, after CLI flags, the config file and the environment have
/// been merged (see `VeilCLI`). Defaults are the secure ones.
public struct ProxyConfiguration: Sendable {
    public var listen = SocketAddress(ip: "127.0.0.1", port: 8080)!
    public var mode: ProxyMode = .passthrough
    public var staticResolve: [StaticResolveEntry] = []
    /// The system resolver (getaddrinfo, plain DNS) is used only when asked for.
    public var systemResolver = false
    public var recordLog: RecordLogLevel = .summary
    public var logFormat: LogFormat = .text
    /// Record and summary lines go here instead of stderr when set.
    public var recordLogFile: String? = nil
    public var splitHello = false
    public var rules = AccessRules.allowAll
    public var allowSNIMismatch = false
    public var workers = 1
    public var maxConnections = 4096
    public var maxHeaderBytes = 8192
    public var connectTimeout: Double = 10
    public var headerTimeout: Double = 10
    public var handshakeTimeout: Double = 15
    public var idleTimeout: Double = 300
    public var grace: Double = 10
    /// Largest capacity a splice pipe grows to (bytes). Pipes start at the kernel's 64 KiB and
    /// grow x4 while a transfer keeps filling them; 0 keeps them at 64 KiB.
    public var pipeSize = 1 << 20

    public init() {}
}

extension Double {
    /// Seconds to nanoseconds, clamped at zero.
    var nanoseconds: UInt64 { self <= 0 ? 0 : UInt64(self * 1_000_000_000) }
}
