/// An ECHConfigList (RFC 9849 section 4), as the `ech` SvcParam of an HTTPS record (RFC 9848)
/// or `--ech-config` carries it: a 2-byte length, then ECHConfigs. Parsing is strict about
/// structure (a length that does not add up is an error for the whole list, never a trap) and
/// lenient about content: configs of another version, another KEM, no suite Veil supports, an
/// unknown mandatory extension or a bad public_name are kept but skipped by `selection()`.
public struct ECHConfigList: Sendable, Equatable {
    public let configs: [ECHConfig]

    /// The config a client uses, and the HPKE suite to use with it.
    public struct Selection: Sendable, Equatable {
        public let config: ECHConfig
        public let suite: HPKESuite
    }

    /// Parses `bytes` (the whole list, its length prefix included).
    public static func parse(_ bytes: [UInt8]) throws(ECHConfigError) -> ECHConfigList {
        let configs: [ECHConfig]
        do {
            configs = try parseConfigs(bytes)
        } catch {
            switch error {
            case .malformed(let what): throw .malformed(what)
            default: throw .malformed(error.description)
            }
        }
        guard !configs.isEmpty else { throw .empty }
        return ECHConfigList(configs: configs)
    }

    /// The first config Veil can use (list order) with its first suite Veil supports; else
    /// `.noUsableConfig` with every config's reason.
    public func selection() throws(ECHConfigError) -> Selection {
        var reasons: [String] = []
        for config in configs {
            if let reason = config.unusableReason {
                reasons.append(reason)
            } else if let suite = config.suite {
                return Selection(config: config, suite: suite)
            }
        }
        throw .noUsableConfig(reasons)
    }

    private static func parseConfigs(_ bytes: [UInt8]) throws(TLSParseError) -> [ECHConfig] {
        var reader = ByteReader(bytes)
        var list = try reader.readVector(lengthBytes: 2, "ECHConfigList")
        try reader.expectEnd("ECHConfigList")
        var configs: [ECHConfig] = []
        while !list.isAtEnd {
            configs.append(try parseConfig(&list))
        }
        return configs
    }

    private static func parseConfig(_ list: inout ByteReader) throws(TLSParseError) -> ECHConfig {
        let start = list.position
        let version = try list.readUInt16("ECHConfig version")
        var contents = try list.readVector(lengthBytes: 2, "ECHConfig contents")
        let bytes = Array(list.bytes[start..<list.position])
        guard version == ECHConfig.version13 else {
            return ECHConfig(version: version, bytes: bytes, configID: 0, kemID: 0, publicKey: [], cipherSuites: [],
                             maximumNameLength: 0, publicName: "", extensions: [])
        }
        let configID = try contents.readUInt8("config_id")
        let kemID = try contents.readUInt16("kem_id")
        var key = try contents.readVector(lengthBytes: 2, "public_key")
        guard !key.isAtEnd else { throw .malformed("config \(configID): empty public_key") }
        let publicKey = key.readRest()
        var suites = try contents.readVector(lengthBytes: 2, "cipher_suites")
        guard suites.remaining >= 4, suites.remaining % 4 == 0 else {
            throw .malformed("config \(configID): cipher_suites of \(suites.remaining) bytes (a non-empty multiple of 4)")
        }
        var cipherSuites: [ECHConfig.CipherSuite] = []
        while !suites.isAtEnd {
            cipherSuites.append(ECHConfig.CipherSuite(kdf: try suites.readUInt16("kdf_id"), aead: try suites.readUInt16("aead_id")))
        }
        let maximumNameLength = try contents.readUInt8("maximum_name_length")
        var name = try contents.readVector(lengthBytes: 1, "public_name")
        guard !name.isAtEnd else { throw .malformed("config \(configID): empty public_name") }
        let publicName = String(decoding: name.readRest(), as: UTF8.self)
        var extensionList = try contents.readVector(lengthBytes: 2, "ECHConfig extensions")
        var extensions: [ECHConfig.Extension] = []
        while !extensionList.isAtEnd {
            let type = try extensionList.readUInt16("ECHConfig extension type")
            var data = try extensionList.readVector(lengthBytes: 2, "ECHConfig extension data")
            extensions.append(ECHConfig.Extension(type: type, data: data.readRest()))
        }
        try contents.expectEnd("ECHConfig contents")
        return ECHConfig(version: version, bytes: bytes, configID: configID, kemID: kemID, publicKey: publicKey,
                         cipherSuites: cipherSuites, maximumNameLength: maximumNameLength, publicName: publicName,
                         extensions: extensions)
    }
}
