import VeilResolver
import VeilWire
import Synchronization

/// `--max-connections`: client connections open across all workers (a plain-listener
/// connection, or an HTTPS-listener front with the connection inside it). One atomic add when
/// a connection is accepted and one when it ends: nothing per operation.
final class ConnectionAdmission: Sendable {
    let limit: Int
    private let open = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts one more connection if the limit allows it.
    func admit() -> Bool {
        if open.wrappingAdd(1, ordering: .relaxed).newValue <= limit { return true }
        open.wrappingSubtract(1, ordering: .relaxed)
        return false
    }

    /// An admitted connection ended.
    func leave() {
        open.wrappingSubtract(1, ordering: .relaxed)
    }

    var count: Int { open.load(ordering: .relaxed) }
}
