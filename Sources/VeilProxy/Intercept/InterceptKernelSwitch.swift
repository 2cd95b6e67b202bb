import VeilRuntime
import VeilTLS

/// The kTLS switch's data: both legs, the handshake deadline (the switch is part of the
/// handshake), how the wait for a first TLS 1.3 ticket stands, and the install's progress.
///
/// draining (upstream records already there are read with MSG_DONTWAIT and given to OpenSSL;
/// with TLS 1.3 and no ticket yet, the first one is waited for a little) -> flushing (both
/// engines' output goes out) -> installing (one leg at a time) -> a relay.
final class InterceptKernelSwitch {
    enum TicketWait: Equatable {
        /// Not decided yet.
        case notStarted
        /// Waiting for a first TLS 1.3 ticket until then (MonotonicClock nanoseconds).
        case waiting(until: UInt64)
        /// Not waiting (any more): it came, the wait ran out, the drain ended, or not TLS 1.3.
        case over
    }

    /// Installing kTLS one leg at a time: the keys still to install, why legs stay in userspace,
    /// the legs installed.
    struct Install {
        struct Pending {
            let side: TransferSide
            let transmit: KernelTLSKeys
            let receive: KernelTLSKeys
        }

        var pending: [Pending]
        var notes: [String]
        var installed: [TransferSide] = []
    }

    let client: TLSLeg
    let upstream: TLSLeg
    /// The handshake timeout's deadline.
    let deadline: UInt64
    /// How long the upstream handshake took: the ticket wait lasts about as long (2-50 ms).
    let upstreamHandshakeNanos: UInt64
    var ticketWait = TicketWait.notStarted
    /// Set while the legs are being installed.
    var install: Install?
    /// Plaintext the upstream sent before the switch, on its way into the client's engine.
    let scratch: UnsafeMutableRawPointer
    static let scratchSize = 16 << 10

    init(client: TLSLeg, upstream: TLSLeg, deadline: UInt64, upstreamHandshakeNanos: UInt64) {
        self.client = client
        self.upstream = upstream
        self.deadline = deadline
        self.upstreamHandshakeNanos = upstreamHandshakeNanos
        scratch = UnsafeMutableRawPointer.allocate(byteCount: InterceptKernelSwitch.scratchSize, alignment: 16)
    }

    deinit { scratch.deallocate() }

    func leg(_ side: TransferSide) -> TLSLeg { side == .client ? client : upstream }

    /// The deadline to arm: the ticket wait's end when it comes first.
    var nextDeadline: UInt64 {
        if case .waiting(let until) = ticketWait, until < deadline { return until }
        return deadline
    }
}
