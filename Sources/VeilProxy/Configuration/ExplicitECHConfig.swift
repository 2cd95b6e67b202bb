import VeilTLS
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// `--ech-config HOST=BASE64|@FILE`: the ECHConfigList to use for HOST, for hosts without an
/// HTTPS record. BASE64 is the list with its 2-byte length (as the `ech=` of an HTTPS record);
/// FILE holds the list as bytes (what `bssl-tool generate-ech -out-ech-config-list` writes) or
/// as that base64 text. Checked when read: it must parse and hold a config Veil can use.
public struct ExplicitECHConfig: Sendable, Equatable {
    public let host: String
    public let list: ECHConfigList

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(host: String, list: ECHConfigList) {
        self.host = host
        self.list = list
    }

    public init(parsing text: String) throws(ParseError) {
        guard let eq = text.firstIndex(of: "=") else {
            throw ParseError(description: "'\(HostPort.clip(text))' is not HOST=BASE64 or HOST=@FILE")
        }
        let hostText = String(text[..<eq])
        guard let hp = try? HostPort(host: hostText, port: 443), hp.kind == .name else {
            throw ParseError(description: "'\(HostPort.clip(hostText))' is not a host name (HOST=BASE64 or HOST=@FILE)")
        }
        host = hp.host
        let value = String(text[text.index(after: eq)...])
        let bytes: [UInt8]
        if value.hasPrefix("@") {
            let path = String(value.dropFirst())
            let raw = try Self.read(path, host: host)
            // Bytes whose length prefix covers the rest are the list itself; else base64 text.
            if raw.count >= 2, Int(raw[0]) << 8 | Int(raw[1]) == raw.count - 2 {
                bytes = raw
            } else if let decoded = Base64.decode(String(decoding: raw, as: UTF8.self).trimmingWhitespace()) {
                bytes = decoded
            } else {
                throw ParseError(description: "ech-config for \(host): \(path) is neither an ECHConfigList (binary, 2-byte length first) nor its base64")
            }
        } else {
            guard let decoded = Base64.decode(value) else {
                throw ParseError(description: "ech-config for \(host): the value is not base64 (or @FILE)")
            }
            bytes = decoded
        }
        do {
            list = try ECHConfigList.parse(bytes)
            _ = try list.selection()
        } catch {
            throw ParseError(description: "ech-config for \(host): \(error)")
        }
    }

    /// `HOST=<base64>`.
    public var description: String {
        host + "=" + Base64.encode(Self.encoded(list))
    }

    /// The list's wire form (2-byte length, then the configs).
    static func encoded(_ list: ECHConfigList) -> [UInt8] {
        let body = list.configs.flatMap(\.bytes)
        return [UInt8(body.count >> 8 & 0xff), UInt8(body.count & 0xff)] + body
    }

    private static func read(_ path: String, host: String) throws(ParseError) -> [UInt8] {
        do {
            return try SmallFile.read(path, limit: 65_537)
        } catch {
            switch error {
            case .unreadable(let why): throw ParseError(description: "ech-config for \(host): cannot read \(path): \(why)")
            case .tooLarge: throw ParseError(description: "ech-config for \(host): \(path) is larger than an ECHConfigList can be")
            }
        }
    }
}
