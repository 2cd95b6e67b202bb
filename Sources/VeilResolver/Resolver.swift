import VeilWire
import VeilRuntime

/// Addresses for one name, and which resolver gave them.
public struct ResolvedAddresses: Sendable, Equatable {
    public var addresses: [SocketAddress]
    public var source: String
    public init(addresses: [SocketAddress], source: String) {
        self.addresses = addresses
        self.source = source
    }
}

public enum ResolveOutcome: Sendable, Equatable {
    case success(ResolvedAddresses)
    case failure(String)
}

/// Turns a host name into addresses. Implementations never block the calling (ring) thread:
/// they answer at once when they can (static map, cache), or return nil and call `completion`
/// later from another thread.
public protocol Resolver: Sendable {
    var name: String { get }
    func resolve(host: String, port: UInt16,
                 completion: @escaping @Sendable (ResolveOutcome) -> Void) -> ResolveOutcome?
}
