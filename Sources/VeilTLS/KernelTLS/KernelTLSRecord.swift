/// What a record read from a kTLS socket with recvmsg is, from the record type the kernel gives
/// in its cmsg and the first bytes of the plaintext. Pure; the three kTLS readers (the spliced
/// relay, the mixed relay, the HTTPS listener) act on this one reading.
public enum KernelTLSRecord: Equatable, Sendable {
    case applicationData
    /// close_notify is description 0.
    case alert(level: UInt8, description: UInt8)
    case malformedAlert
    /// A TLS 1.3 NewSessionTicket (post-handshake).
    case newSessionTicket
    /// A TLS 1.3 KeyUpdate: Linux 6.1's kTLS cannot rekey.
    case keyUpdate
    /// Anything else, described.
    case unexpected(String)

    public init(type: UInt8, body: UnsafeBufferPointer<UInt8>) {
        switch type {
        case 23:
            self = .applicationData
        case 21:
            self = body.count >= 2 ? .alert(level: body[0], description: body[1]) : .malformedAlert
        case 22 where body.first == 4:
            self = .newSessionTicket
        case 22 where body.first == 24:
            self = .keyUpdate
        case 22:
            self = .unexpected("handshake message of type \(body.first ?? 0)")
        default:
            self = .unexpected("record of type \(type)")
        }
    }

    public var isCloseNotify: Bool {
        if case .alert(_, 0) = self { return true }
        return false
    }
}
