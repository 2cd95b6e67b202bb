import VeilRuntime
import VeilTLS

extension InterceptMachine {
    /// What happened. Results are io_uring's: bytes, 0 at the end of a stream, or a negative
    /// errno. `now` is the monotonic clock when the owner took the completion.
    enum Event {
        /// The CONNECT answer is out: the intercept starts. `pipelined` is what the client sent
        /// right after its request (the start of its TLS), copied into the client engine here.
        case start(pipelined: UnsafeRawBufferPointer, now: UInt64)
        /// A `.receive` into a leg's engine input completed.
        case received(TransferSide, result: Int32, now: UInt64)
        /// A `.send` of a leg's engine output completed.
        case sent(TransferSide, result: Int32, now: UInt64)
        /// `.installKernelTLS` on a side is done: nil, or what failed.
        case kernelTLSInstalled(TransferSide, error: String?, now: UInt64)
        /// The certificate asked for with `.requestCertificate`: from the worker's cache or
        /// just minted.
        case certificateMinted(MintedCertificate, now: UInt64)
        /// It could not be minted (the minter's error).
        case certificateFailed(String)
        /// The `.refuse` alert is out (or its send failed).
        case refusalSent
        /// The upstream reconnect asked with `.retryUpstream` is done: the new leg and its fresh
        /// ECH config, or why not.
        case upstreamRetried(TLSLeg?, UpstreamECH?, failure: String?, now: UInt64)
        /// The deadline the machine set has come (the owner checks its grace period first).
        case deadlinePassed(now: UInt64)
    }

    /// What the owner is to do, in order.
    enum Action {
        /// recv on the side's socket into `buffer` (a leg engine's input), at most `max` bytes;
        /// `dontWait`: MSG_DONTWAIT. Completes as `.received`.
        case receive(TransferSide, into: ByteBuffer, max: Int, dontWait: Bool)
        /// Cancels the receive in flight on a side (it completes with -ECANCELED or what it had).
        case cancelReceive(TransferSide)
        /// Attaches the TLS ULP to the side's socket and installs these keys (RX, then TX); the
        /// owner answers at once with `.kernelTLSInstalled`.
        case installKernelTLS(TransferSide, transmit: KernelTLSKeys, receive: KernelTLSKeys)
        /// send all of `buffer`'s readable bytes (a leg engine's output). Completes as `.sent`.
        case send(TransferSide, from: ByteBuffer)
        /// A certificate for `name`: from the worker's cache, else minted off the ring. Answered
        /// with `.certificateMinted` or `.certificateFailed`.
        case requestCertificate(name: String)
        /// Sends the client this plaintext alert record refusing its handshake. Completes as
        /// `.refusalSent`.
        case refuse(TLSAlert)
        /// The machine's deadline (MonotonicClock nanoseconds).
        case setDeadline(UInt64)
        /// A record-log line (`--record-log records`).
        case logRecord(RecordDirection, TLSRecordSummary)
        /// Something the summary line says.
        case note(InterceptNote)
        /// The userspace relay takes both legs, with whatever operations on them are still in
        /// flight (`TLSLeg.receiving`, `.sending`).
        case startRelay(client: TLSLeg, upstream: TLSLeg)
        /// `kernel`'s socket is on kTLS (its engine handed over); the mixed relay runs it beside
        /// the `userspace` leg.
        case startMixedRelay(kernel: TransferSide, userspace: TLSLeg)
        /// Both sockets are on kTLS: the splice transfer takes them.
        case startKernelSplice
        /// The server rejected ECH with a config from DNS: drop the name's cached HTTPS answer
        /// (the next connection asks again).
        case forgetECHConfig(host: String, port: UInt16)
        /// ECH was rejected with a config from DNS (now dropped from the cache): close the upstream
        /// socket, connect the same address again and look the config up afresh; answered
        /// with `.upstreamRetried`. Once per connection.
        case retryUpstream(host: String, port: UInt16)
        /// The connection ends with this reason; nothing follows.
        case close(CloseReason)
    }
}

/// A fact about an intercepted connection for its summary line.
enum InterceptNote: Equatable {
    /// How a side's stream ended (the first end noted counts).
    case end(TransferSide, StreamEnd)
    /// `count` bytes were sent on a side's socket.
    case sent(TransferSide, Int)
    /// The client's SNI (nil: none).
    case sni(String?)
    /// The SNI sent upstream ("-": none).
    case upstreamSNI(String)
    /// The client's own ClientHello carried an encrypted_client_hello extension (real or
    /// GREASE: Veil's OpenSSL ignores it; Veil does ECH upstream itself).
    case clientECH
    /// The upstream handshake was retried once with a fresh ECH config.
    case echRetried
    /// ECH on the upstream leg (`ech=` token) and the name in clear in its ClientHello.
    case ech(String, outerSNI: String)
    /// The upstream handshake is done: what it negotiated and how long it took.
    case upstreamHandshake(version: String?, cipher: String?, alpn: String?, resumed: Bool, nanos: UInt64)
    /// The client handshake is done.
    case clientHandshake(version: String?, cipher: String?, resumed: Bool)
    /// Why kTLS was not (fully) used (the summary's `ktls=`).
    case kernelTLS(String)
    /// Who protects the userspace relay's records (`records=`: veil or openssl), and why not veil.
    case records(String)
    case recordsNote(String)
}
