internal import CLibURing
#if canImport(Glibc)
import Glibc
#endif

/// A socket address at a fixed place on the heap, for `EventLoop.connect`: the kernel reads it
/// when the submission is issued, after `connect` has returned, so it cannot live on the stack.
/// One per connecting handler, reused for each address tried; keep it until the connect has
/// completed (a handler keeps it until `finalize`).
public final class AddressSlot {
    let pointer: UnsafeMutablePointer<sockaddr_storage>
    private(set) var length: socklen_t = 0

    public init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: sockaddr_storage())
    }

    deinit { pointer.deallocate() }

    /// Holds `address` from now on (the connect about to be submitted reads it).
    func hold(_ address: SocketAddress) {
        pointer.pointee = address.storage
        length = address.length
    }
}
