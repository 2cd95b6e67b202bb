import VeilRuntime

/// Deadlines as the transfer machines set them: MonotonicClock nanoseconds, 0 for none.
enum TransferDeadline {
    /// `seconds` after `now`; 0 (no deadline) when `seconds` is not positive.
    static func after(_ seconds: Double, from now: UInt64) -> UInt64 {
        seconds > 0 ? now &+ seconds.nanoseconds : 0
    }
}
