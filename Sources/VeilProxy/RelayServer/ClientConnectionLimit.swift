import VeilResolver
import VeilWire
import Synchronization

/// Open connections per client address, across workers, up to `maxPerClient`.
public final class ClientConnectionLimit: Sendable {
    public let maxPerClient: Int
    private let counts = Mutex<[String: Int]>([:])

    public init(maxPerClient: Int) { self.maxPerClient = max(1, maxPerClient) }

    /// Takes a slot for `client`; false when it already has `maxPerClient`.
    public func acquire(_ client: String) -> Bool {
        counts.withLock { c in
            let n = c[client, default: 0]
            guard n < maxPerClient else { return false }
            c[client] = n + 1
            return true
        }
    }

    public func release(_ client: String) {
        counts.withLock { c in
            let n = c[client, default: 0]
            c[client] = n > 1 ? n - 1 : nil
        }
    }

    public func count(_ client: String) -> Int { counts.withLock { $0[client, default: 0] } }
}
