/// Handshake message types (RFC 8446 §4, RFC 5246 §7.4, RFC 6066, RFC 8879).
///
/// HelloRetryRequest has no code of its own: it is a `serverHello` whose random is the special
/// value `ServerHello.helloRetryRequestRandom` (see `ServerHello.isHelloRetryRequest`).
public enum HandshakeType: UInt8, Sendable, Hashable, CaseIterable {
    case helloRequest = 0
    case clientHello = 1
    case serverHello = 2
    case newSessionTicket = 4
    case endOfEarlyData = 5
    case encryptedExtensions = 8
    case certificate = 11
    case serverKeyExchange = 12
    case certificateRequest = 13
    case serverHelloDone = 14
    case certificateVerify = 15
    case clientKeyExchange = 16
    case finished = 20
    case certificateStatus = 22
    case keyUpdate = 24
    case compressedCertificate = 25
    case messageHash = 254

    /// The message name as used in log lines, e.g. `ServerHelloDone`.
    public var name: String {
        switch self {
        case .helloRequest: "HelloRequest"
        case .clientHello: "ClientHello"
        case .serverHello: "ServerHello"
        case .newSessionTicket: "NewSessionTicket"
        case .endOfEarlyData: "EndOfEarlyData"
        case .encryptedExtensions: "EncryptedExtensions"
        case .certificate: "Certificate"
        case .serverKeyExchange: "ServerKeyExchange"
        case .certificateRequest: "CertificateRequest"
        case .serverHelloDone: "ServerHelloDone"
        case .certificateVerify: "CertificateVerify"
        case .clientKeyExchange: "ClientKeyExchange"
        case .finished: "Finished"
        case .certificateStatus: "CertificateStatus"
        case .keyUpdate: "KeyUpdate"
        case .compressedCertificate: "CompressedCertificate"
        case .messageHash: "MessageHash"
        }
    }

    /// The name of any type code; unknown codes read `Handshake(0xNN)`.
    public static func name(for code: UInt8) -> String {
        HandshakeType(rawValue: code)?.name ?? "Handshake(" + Hex.byte(code) + ")"
    }
}
