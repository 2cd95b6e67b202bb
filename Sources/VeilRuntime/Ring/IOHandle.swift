/// Identifies one registered handler on one event loop. The generation makes completions that
/// arrive after a slot was reused recognisable as stale.
public struct IOHandle: Hashable, Sendable {
    public let slot: UInt32
    public let generation: UInt32

    /// Placeholder for a handle not registered yet.
    public static let none = IOHandle(slot: 0, generation: 0)

    /// user_data layout: slot (32 bits) | generation (24 bits) | operation tag (8 bits).
    @inline(__always)
    func userData(op: UInt8) -> UInt64 {
        UInt64(slot) << 32 | UInt64(generation & 0xFF_FFFF) << 8 | UInt64(op)
    }

    @inline(__always)
    static func decode(_ userData: UInt64) -> (slot: UInt32, generation: UInt32, op: UInt8) {
        (UInt32(truncatingIfNeeded: userData >> 32), UInt32(truncatingIfNeeded: userData >> 8) & 0xFF_FFFF,
         UInt8(truncatingIfNeeded: userData))
    }
}
