import VeilTLS

/// Who protects the outer session's records once it relays: the kernel (kTLS on the socket),
/// OpenSSL (until Veil's own record layer takes over, or for good), or Veil's own record layer
/// (`RecordCipher`s keyed from the session, OpenSSL done with it). The engine exists exactly in
/// the userspace modes: its buffers hold the records either way.
enum OuterRecords {
    /// Whether Veil's record layer is to take the session over from OpenSSL.
    enum Takeover: Equatable {
        /// Once 64 KiB have moved and the session sits at a record boundary.
        case pending
        /// OpenSSL keeps the records (`--record-layer openssl`, or a session Veil cannot key).
        case never
    }

    /// kTLS: the driver receives whole records with recvmsg (their type in a cmsg) and sends
    /// plaintext, which the kernel encrypts.
    case kernel
    case openssl(TLSEngine, takeover: Takeover)
    /// Veil seals with `sealer` and opens with `opener`; the engine only lends its buffers.
    case veil(TLSEngine, sealer: RecordCipher, opener: RecordCipher)

    /// The session's engine, in the userspace modes.
    var engine: TLSEngine? {
        switch self {
        case .kernel: nil
        case .openssl(let e, _), .veil(let e, _, _): e
        }
    }

}
