/// A parsed ServerHello handshake message (RFC 8446 §4.1.3), which may be a HelloRetryRequest.
public struct ServerHello: Sendable, Hashable {
    /// The random that marks a HelloRetryRequest: SHA-256("HelloRetryRequest").
    public static let helloRetryRequestRandom: [UInt8] = [
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
    ]

    public let legacyVersion: UInt16
    /// The 32-byte server random.
    public let random: [UInt8]
    /// The echoed legacy session ID (0...32 bytes).
    public let sessionID: [UInt8]
    public let cipherSuite: UInt16
    /// The selected (legacy) compression method; 0 in practice.
    public let compression: UInt8
    /// All extensions in the order sent.
    public let extensions: [TLSExtension]
    /// True when `random` is the HelloRetryRequest marker.
    public let isHelloRetryRequest: Bool
    /// The negotiated version: supported_versions (43) if present, else `legacyVersion`.
    public let selectedVersion: UInt16
    /// The protocol chosen in the ALPN extension, when sent in the clear (TLS 1.2 and earlier).
    public let alpn: String?
    /// The key_share group: the selected group of a HelloRetryRequest or the server's share's group.
    public let keyShareGroup: UInt16?

    /// Parses a ServerHello message body (the handshake message without its 4-byte header).
    public init(body: [UInt8]) throws(TLSParseError) {
        var reader = ByteReader(body)
        legacyVersion = try reader.readUInt16("ServerHello version")
        random = try reader.readBytes(32, "ServerHello random")
        var session = try reader.readVector(lengthBytes: 1, "ServerHello session_id")
        guard session.remaining <= 32 else { throw .malformed("ServerHello: session_id longer than 32 bytes") }
        sessionID = session.readRest()
        cipherSuite = try reader.readUInt16("ServerHello cipher_suite")
        compression = try reader.readUInt8("ServerHello compression_method")
        if reader.isAtEnd {
            extensions = []
        } else {
            var block = try reader.readVector(lengthBytes: 2, "ServerHello extensions")
            try reader.expectEnd("ServerHello")
            extensions = try TLSExtension.parseList(&block, "ServerHello extensions")
        }
        let isHRR = random == ServerHello.helloRetryRequestRandom
        isHelloRetryRequest = isHRR

        var selectedVersion = legacyVersion
        var alpn: String?
        var keyShareGroup: UInt16?
        for ext in extensions {
            var data = ByteReader.confined(body, to: ext.bodyRange)
            switch ext.type {
            case TLSExtension.supportedVersions:
                selectedVersion = try data.readUInt16("ServerHello supported_versions")
                try data.expectEnd("ServerHello supported_versions")
            case TLSExtension.applicationLayerProtocolNegotiation:
                var list = try data.readVector(lengthBytes: 2, "ServerHello ALPN list")
                try data.expectEnd("ServerHello ALPN")
                var name = try list.readVector(lengthBytes: 1, "ServerHello ALPN protocol name")
                try list.expectEnd("ServerHello ALPN list (must name exactly one protocol)")
                guard !name.isAtEnd else { throw .malformed("ServerHello ALPN: empty protocol name") }
                alpn = String(decoding: name.readRest(), as: UTF8.self)
            case TLSExtension.keyShare:
                keyShareGroup = try data.readUInt16("ServerHello key_share group")
                if !isHRR {
                    let key = try data.readVector(lengthBytes: 2, "ServerHello key_share key_exchange")
                    guard !key.isAtEnd else { throw .malformed("ServerHello key_share: empty key_exchange") }
                }
                try data.expectEnd("ServerHello key_share")
            default:
                break
            }
        }
        self.selectedVersion = selectedVersion
        self.alpn = alpn
        self.keyShareGroup = keyShareGroup
    }

    /// The extension of the given type, if present.
    public func findExtension(_ type: UInt16) -> TLSExtension? {
        extensions.first { $0.type == type }
    }

    /// The log description: `ServerHello version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256 alpn=-`, or for a
    /// HelloRetryRequest `HelloRetryRequest cipher=TLS_AES_128_GCM_SHA256 group=secp384r1`.
    public var summary: String {
        if isHelloRetryRequest {
            return "HelloRetryRequest cipher=" + TLSNames.cipherSuite(cipherSuite)
                + (keyShareGroup.map { " group=" + TLSNames.group($0) } ?? "")
        }
        return "ServerHello version=" + TLSNames.version(selectedVersion)
            + " cipher=" + TLSNames.cipherSuite(cipherSuite)
            + " alpn=" + (alpn ?? "-")
    }
}
