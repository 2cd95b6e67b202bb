import Synchronization
import VeilRuntime
import VeilTLS

/// What every worker shares: immutable configuration and the few process-wide counters.
final class ProxyShared: Sendable {
    let config: ProxyConfiguration
    let resolver: any Resolver
    let listenFD: Int32
    let recordLogFD: Int32
    let parser: ConnectRequestParser
    let interception: Interception?
    private let nextID = Atomic<UInt64>(1)

    init(config: ProxyConfiguration, resolver: any Resolver, listenFD: Int32, recordLogFD: Int32,
         interception: Interception?) {
        self.interception = interception
        self.config = config
        self.resolver = resolver
        self.listenFD = listenFD
        self.recordLogFD = recordLogFD
        self.parser = ConnectRequestParser(maxHeaderBytes: config.maxHeaderBytes)
    }

    func makeConnectionID() -> UInt64 {
        nextID.wrappingAdd(1, ordering: .relaxed).oldValue
    }
}
