import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The handshakes of an intercepted connection as a value: events in, actions out. Veil
/// terminates the client's TLS with a minted certificate and runs its own TLS session upstream:
///
///     idle -> clientHello -> upstreamHandshake -> [awaitingCertificate] -> clientHandshake -> [kernelSwitch] -> handedOver
///                  \-> refusing (SNI mismatch)  \-> refusing (upstream failed: handshake_failure)
///
/// - clientHello: the client's records are read (record by record when a kTLS switch may follow,
///   so that nothing past the handshakes sits in userspace) and framed; the ClientHello's SNI is
///   judged against the CONNECT host and a certificate for it is asked for (`requestCertificate`:
///   the worker's cache, else minted off the ring).
/// - upstreamHandshake: the upstream engine offers the client's ALPN list, the SNI the policy
///   says, a cached session; OpenSSL verifies the chain and the real name.
/// - awaitingCertificate: upstream is done, the certificate has not come yet.
/// - clientHandshake: the client engine answers with the certificate and upstream's ALPN.
/// - kernelSwitch (the kernel offers kTLS, `--ktls` is not off, not inside the HTTPS listener):
///   upstream records already there are read record by record (MSG_DONTWAIT) and given to
///   OpenSSL (tickets reach the cache, early data goes to the client's engine; a TLS 1.3 first
///   ticket is waited for about the upstream handshake's duration, 2-50 ms), both engines'
///   output is flushed, each leg's keys are derived and installed, one leg at a time
///   (`installKernelTLS`, decided per leg). Then: both legs on kTLS -> the splice transfer
///   (`startKernelSplice`); one -> the mixed relay (`startMixedRelay`); none, or the upstream
///   closing meanwhile -> the userspace relay; `--ktls require` and a leg without -> `ktls-unavailable`.
/// - handedOver: the relay has the legs (`startRelay`, `startMixedRelay`, `startKernelSplice`:
///   Connection+InterceptRelay, Connection+MixedTransfer, SpliceMachine).
/// - refusing: a plaintext fatal alert goes to the client, then the connection ends (2 s at most).
///
/// It drives the two `TLSEngine`s in memory and never touches a socket, a clock (time comes in
/// the events), the worker or the event loop: the owner (`Connection`) performs the actions.
struct InterceptMachine {
    /// What the owner fixes when the intercept starts.
    struct Settings {
        /// The CONNECT target: the name verified upstream, and the SNI the client must send.
        let target: HostPort
        let handshakeTimeout: Double
        let allowSNIMismatch: Bool
        /// The upstream SNI policy for this target.
        let sniPolicy: SNIPolicy
        /// `--ktls`, whether the kernel offers kTLS, and whether the client leg is inside the
        /// HTTPS listener's TLS (whose socket carries the outer session).
        let ktls: KTLSMode
        let kernelTLSAvailable: Bool
        let viaListener: Bool
        /// Whether each leg's socket is TCP (a socketpair to a relay tunnel cannot take kTLS).
        let clientIsTCP: Bool
        let upstreamIsTCP: Bool
        /// `--record-log records`: every record is logged.
        let logRecords: Bool
        /// The upstream session cache (a ticket offered, new ones stored).
        let sessions: SessionCache
        let minter: CertificateMinter
        /// Encrypted Client Hello upstream (decided before the connect).
        let ech: UpstreamECH

        /// A kTLS switch may follow the handshakes: reads stop at record boundaries so that
        /// nothing past the handshakes sits in userspace.
        var exactReads: Bool { ktls != .off && kernelTLSAvailable && !viaListener }
    }

    enum State {
        /// Created, not started.
        case idle(InterceptHandshake)
        case clientHello(InterceptHandshake)
        case upstreamHandshake(InterceptHandshake)
        case awaitingCertificate(InterceptHandshake)
        case clientHandshake(InterceptHandshake)
        case kernelSwitch(InterceptKernelSwitch)
        /// A plaintext alert refusing the client's handshake goes out, then the connection ends.
        case refusing(InterceptFailure, deadline: UInt64)
        /// Both handshakes are done: the relay has the legs.
        case handedOver
        case closed(InterceptFailure)
    }

    let settings: InterceptMachine.Settings
    var state: State
    /// Record log lines gathered from the engines' output (`--record-log records`).
    let recordLog: InterceptRecordLog

    /// The client leg (server role) and upstream leg (client role): fresh engines.
    init(settings: InterceptMachine.Settings, client: TLSLeg, upstream: TLSLeg) {
        self.settings = settings
        recordLog = InterceptRecordLog()
        if settings.logRecords {
            for leg in [client, upstream] {
                let log = recordLog
                leg.engine.onOutput = { [unowned leg] bytes in log.scanOutput(leg, bytes) }
            }
        }
        let h = InterceptHandshake(client: client, upstream: upstream)
        h.ech = settings.ech
        state = .idle(h)
    }

    /// Handles one event; what to do is appended to `actions`, in order.
    mutating func handle(_ event: Event, _ actions: inout [Action]) {
        switch event {
        case .start(let pipelined, let now):
            start(pipelined: pipelined, now: now, &actions)
        case .received(let side, let result, let now):
            received(side, result: result, now: now, &actions)
        case .sent(let side, let result, let now):
            sent(side, result: result, now: now, &actions)
        case .certificateMinted(let certificate, let now):
            certificateMinted(certificate, now: now, &actions)
        case .upstreamRetried(let leg, let ech, let failure, let now):
            upstreamRetried(leg, ech, failure: failure, now: now, &actions)
        case .certificateFailed(let why):
            if handshake != nil { close(.certificateUnavailable(why), &actions) }
        case .kernelTLSInstalled(let side, let error, let now):
            kernelTLSInstalled(side, error: error, now: now, &actions)
        case .refusalSent:
            if case .refusing(let failure, _) = state { close(failure, &actions) }
        case .deadlinePassed(let now):
            deadlinePassed(now: now, &actions)
        }
        flushRecordLog(&actions)
    }

    /// The handshake data, in the states that have it.
    var handshake: InterceptHandshake? {
        switch state {
        case .idle(let h), .clientHello(let h), .upstreamHandshake(let h), .awaitingCertificate(let h),
             .clientHandshake(let h):
            return h
        case .kernelSwitch, .refusing, .handedOver, .closed:
            return nil
        }
    }

    /// Ends the connection: `.close`, nothing after it.
    mutating func close(_ failure: InterceptFailure, _ actions: inout [Action]) {
        switch state {
        case .closed, .handedOver: return
        default: break
        }
        state = .closed(failure)
        actions.append(.close(failure.closeReason))
    }

    /// A side's socket operation failed with `result`: its end, and the close.
    mutating func gone(_ side: TransferSide, result: Int32, _ actions: inout [Action]) {
        actions.append(.note(.end(side, .failure(result))))
        close(.peerFailed(side, result: result), &actions)
    }

    /// Refuses the client's handshake with a plaintext fatal alert, then closes with `failure`.
    mutating func refuse(_ failure: InterceptFailure, alert: UInt8, now: UInt64, _ actions: inout [Action]) {
        let deadline = now &+ InterceptMachine.refusalLinger
        state = .refusing(failure, deadline: deadline)
        actions.append(.setDeadline(deadline))
        actions.append(.refuse(TLSAlert.fatal(alert)))
    }

    /// How long a refusal alert may take to go out.
    static let refusalLinger: UInt64 = 2_000_000_000

    private mutating func deadlinePassed(now: UInt64, _ actions: inout [Action]) {
        switch state {
        case .idle, .handedOver, .closed:
            return
        case .refusing(let failure, let deadline):
            if now >= deadline { close(failure, &actions) } else { actions.append(.setDeadline(deadline)) }
        case .kernelSwitch(let k):
            switchDeadlinePassed(k, now: now, &actions)
        case .clientHello(let h), .upstreamHandshake(let h), .awaitingCertificate(let h), .clientHandshake(let h):
            if now >= h.deadline {
                close(.handshakeTimeout(seconds: settings.handshakeTimeout), &actions)
            } else {
                actions.append(.setDeadline(h.deadline))
            }
        }
    }

    /// Record log lines gathered during the event (some from OpenSSL's output callback), and a
    /// record Veil wrote that does not frame (only scanned when every record is logged).
    private mutating func flushRecordLog(_ actions: inout [Action]) {
        guard settings.logRecords else { return }
        if !recordLog.entries.isEmpty {
            // Also after a close: the alert OpenSSL wrote for a failed handshake is logged.
            for entry in recordLog.entries { actions.append(.logRecord(entry.direction, entry.summary)) }
            recordLog.entries.removeAll(keepingCapacity: true)
        }
        if let failure = recordLog.outputFailure {
            recordLog.outputFailure = nil
            close(.invalidTLS(failure.error, from: failure.side, notTLS: false), &actions)
        }
    }
}
