/// A parsed ClientHello handshake message (RFC 8446 §4.1.2), with the fields a proxy logs and routes on.
///
/// Every length field is checked against its container; duplicate extensions, malformed known
/// extensions and server names with bytes outside letters, digits, `-`, `.` and `_` are rejected.
public struct ClientHello: Sendable, Hashable {
    public let legacyVersion: UInt16
    /// The 32-byte client random.
    public let random: [UInt8]
    /// The legacy session ID (0...32 bytes).
    public let sessionID: [UInt8]
    public let cipherSuites: [UInt16]
    public let compressionMethods: [UInt8]
    /// All extensions in the order sent (GREASE ones included).
    public let extensions: [TLSExtension]

    /// The host_name of the server_name extension, if present.
    public let serverName: String?
    /// Offsets of the host name bytes within the handshake message *including* its 4-byte header,
    /// i.e. within the record body when the ClientHello starts at offset 0 of a record.
    public let serverNameValueRange: Range<Int>?
    /// Protocols offered in the ALPN extension, in order.
    public let alpn: [String]
    /// The supported_versions extension's list (GREASE included), empty if absent.
    public let supportedVersions: [UInt16]
    /// The supported_groups extension's list (GREASE included).
    public let groups: [UInt16]
    /// Groups the client sent key shares for (GREASE included).
    public let keyShareGroups: [UInt16]
    /// The signature_algorithms extension's list.
    public let signatureAlgorithms: [UInt16]
    /// True when the encrypted_client_hello extension (0xfe0d) is present.
    public let hasEncryptedClientHello: Bool
    /// True when the early_data extension (42) is present (the client may send 0-RTT data).
    public let hasEarlyData: Bool
    /// GREASE values seen among cipher suites, extension types, groups and supported versions.
    public let greaseCount: Int

    /// Parses a ClientHello message body (the handshake message without its 4-byte header).
    public init(body: [UInt8]) throws(TLSParseError) {
        var reader = ByteReader(body)
        legacyVersion = try reader.readUInt16("ClientHello version")
        random = try reader.readBytes(32, "ClientHello random")

        var session = try reader.readVector(lengthBytes: 1, "ClientHello session_id")
        guard session.remaining <= 32 else { throw .malformed("ClientHello: session_id longer than 32 bytes") }
        sessionID = session.readRest()

        var suites = try reader.readVector(lengthBytes: 2, "ClientHello cipher_suites")
        cipherSuites = try suites.readUInt16List("ClientHello cipher_suites")

        var compression = try reader.readVector(lengthBytes: 1, "ClientHello compression_methods")
        guard !compression.isAtEnd else { throw .malformed("ClientHello: no compression methods") }
        compressionMethods = compression.readRest()

        if reader.isAtEnd {
            extensions = []
        } else {
            var block = try reader.readVector(lengthBytes: 2, "ClientHello extensions")
            try reader.expectEnd("ClientHello")
            extensions = try TLSExtension.parseList(&block, "ClientHello extensions")
        }

        var serverName: String?
        var serverNameValueRange: Range<Int>?
        var alpn: [String] = []
        var supportedVersions: [UInt16] = []
        var groups: [UInt16] = []
        var keyShareGroups: [UInt16] = []
        var signatureAlgorithms: [UInt16] = []
        var hasECH = false
        var hasEarlyData = false
        var grease = cipherSuites.count(where: TLSNames.isGREASE)

        for ext in extensions {
            if TLSNames.isGREASE(ext.type) { grease += 1 }
            var data = ByteReader.confined(body, to: ext.bodyRange)
            switch ext.type {
            case TLSExtension.serverName:
                let range = try ClientHello.parseServerName(&data)
                serverNameValueRange = range.lowerBound + HandshakeMessage.headerSize..<range.upperBound + HandshakeMessage.headerSize
                serverName = String(decoding: body[range], as: UTF8.self)
            case TLSExtension.applicationLayerProtocolNegotiation:
                alpn = try ClientHello.parseALPN(&data)
            case TLSExtension.supportedVersions:
                var list = try data.readVector(lengthBytes: 1, "supported_versions")
                try data.expectEnd("supported_versions")
                supportedVersions = try list.readUInt16List("supported_versions")
            case TLSExtension.supportedGroups:
                var list = try data.readVector(lengthBytes: 2, "supported_groups")
                try data.expectEnd("supported_groups")
                groups = try list.readUInt16List("supported_groups")
            case TLSExtension.keyShare:
                keyShareGroups = try ClientHello.parseKeyShares(&data)
            case TLSExtension.signatureAlgorithms:
                var list = try data.readVector(lengthBytes: 2, "signature_algorithms")
                try data.expectEnd("signature_algorithms")
                signatureAlgorithms = try list.readUInt16List("signature_algorithms")
            case TLSExtension.encryptedClientHello:
                hasECH = true
            case TLSExtension.earlyData:
                guard data.isAtEnd else { throw .malformed("ClientHello early_data: not empty") }
                hasEarlyData = true
            default:
                break
            }
        }
        grease += groups.count(where: TLSNames.isGREASE)
        grease += supportedVersions.count(where: TLSNames.isGREASE)

        self.serverName = serverName
        self.serverNameValueRange = serverNameValueRange
        self.alpn = alpn
        self.supportedVersions = supportedVersions
        self.groups = groups
        self.keyShareGroups = keyShareGroups
        self.signatureAlgorithms = signatureAlgorithms
        self.hasEncryptedClientHello = hasECH
        self.hasEarlyData = hasEarlyData
        self.greaseCount = grease
    }

    /// The extension of the given type, if present.
    public func findExtension(_ type: UInt16) -> TLSExtension? {
        extensions.first { $0.type == type }
    }

    /// Versions the client offers without GREASE: supported_versions if sent, else the legacy version.
    public var offeredVersions: [UInt16] {
        supportedVersions.isEmpty ? [legacyVersion] : supportedVersions.filter { !TLSNames.isGREASE($0) }
    }

    /// The log description:
    /// `ClientHello sni=localhost alpn=h2,http/1.1 versions=TLSv1.3,TLSv1.2 ech=no`.
    public var summary: String {
        "ClientHello sni=" + (serverName ?? "-")
            + " alpn=" + (alpn.isEmpty ? "-" : alpn.joined(separator: ","))
            + " versions=" + offeredVersions.map(TLSNames.version).joined(separator: ",")
            + " ech=" + (hasEncryptedClientHello ? "yes" : "no")
    }

    /// Returns the body range of the single host_name in a server_name extension (RFC 6066 §3).
    private static func parseServerName(_ data: inout ByteReader) throws(TLSParseError) -> Range<Int> {
        var list = try data.readVector(lengthBytes: 2, "server_name list")
        try data.expectEnd("server_name")
        guard !list.isAtEnd else { throw .malformed("server_name: empty list") }
        var hostRange: Range<Int>?
        while !list.isAtEnd {
            let nameType = try list.readUInt8("server_name type")
            var name = try list.readVector(lengthBytes: 2, "server_name host_name")
            guard nameType == 0 else { continue }
            guard hostRange == nil else { throw .malformed("server_name: more than one host_name") }
            let range = try name.readRange(name.remaining, "server_name host_name")
            guard !range.isEmpty, range.count <= 255 else {
                throw .malformed("server_name: host_name length \(range.count)")
            }
            for byte in list.bytes[range] where !isHostNameByte(byte) {
                throw .malformed("server_name: host_name contains byte \(Hex.byte(byte))")
            }
            hostRange = range
        }
        guard let hostRange else { throw .malformed("server_name: no host_name entry") }
        return hostRange
    }

    /// Letters, digits, `-`, `.` and `_`.
    private static func isHostNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    /// ProtocolNameList: a non-empty list of non-empty names (RFC 7301 §3.1).
    private static func parseALPN(_ data: inout ByteReader) throws(TLSParseError) -> [String] {
        var list = try data.readVector(lengthBytes: 2, "ALPN list")
        try data.expectEnd("ALPN")
        guard !list.isAtEnd else { throw .malformed("ALPN: empty list") }
        var names: [String] = []
        while !list.isAtEnd {
            var name = try list.readVector(lengthBytes: 1, "ALPN protocol name")
            guard !name.isAtEnd else { throw .malformed("ALPN: empty protocol name") }
            names.append(String(decoding: name.readRest(), as: UTF8.self))
        }
        return names
    }

    /// KeyShareClientHello: a possibly empty list of (group, non-empty key_exchange).
    private static func parseKeyShares(_ data: inout ByteReader) throws(TLSParseError) -> [UInt16] {
        var list = try data.readVector(lengthBytes: 2, "key_share list")
        try data.expectEnd("key_share")
        var groups: [UInt16] = []
        while !list.isAtEnd {
            groups.append(try list.readUInt16("key_share group"))
            let key = try list.readVector(lengthBytes: 2, "key_share key_exchange")
            guard !key.isAtEnd else { throw .malformed("key_share: empty key_exchange") }
        }
        return groups
    }
}
