/// TLS records for the machine tests, built byte by byte: what a client and a server send in a
/// handshake, as far as the flow tracker reads them.
enum TLSBytes {
    static func record(_ type: UInt8, _ body: [UInt8], version: UInt16 = 0x0303) -> [UInt8] {
        [type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }

    static func handshake(_ type: UInt8, _ body: [UInt8]) -> [UInt8] {
        [type, UInt8(body.count >> 16), UInt8((body.count >> 8) & 0xff), UInt8(body.count & 0xff)] + body
    }

    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    static func ext(_ type: Int, _ body: [UInt8]) -> [UInt8] { u16(type) + u16(body.count) + body }

    /// A ClientHello handshake message offering TLS 1.3, with `sni` (none when nil), padded
    /// with `padding` bytes of a padding extension.
    static func clientHelloMessage(sni: String?, padding: Int = 0) -> [UInt8] {
        var exts: [UInt8] = []
        if let sni {
            let name = Array(sni.utf8)
            let entry: [UInt8] = [0] + u16(name.count) + name
            exts += ext(0, u16(entry.count) + entry)
        }
        exts += ext(43, [2, 0x03, 0x04])  // supported_versions: TLS 1.3
        if padding > 0 { exts += ext(21, [UInt8](repeating: 0, count: padding)) }
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 7, count: 32)
        body += [0]                       // session id
        body += u16(2) + [0x13, 0x01]     // TLS_AES_128_GCM_SHA256
        body += [1, 0]                    // compression: null
        body += u16(exts.count) + exts
        return handshake(1, body)
    }

    /// The ClientHello in one record.
    static func clientHello(sni: String?, padding: Int = 0) -> [UInt8] {
        record(22, clientHelloMessage(sni: sni, padding: padding), version: 0x0301)
    }

    /// The ClientHello message cut into records of at most `size` bytes of body.
    static func clientHelloFragments(sni: String?, padding: Int = 0, size: Int) -> [[UInt8]] {
        let message = clientHelloMessage(sni: sni, padding: padding)
        return stride(from: 0, to: message.count, by: size).map {
            record(22, Array(message[$0..<min($0 + size, message.count)]), version: 0x0301)
        }
    }

    /// A TLS 1.3 ServerHello (TLS_AES_128_GCM_SHA256).
    static var serverHello: [UInt8] {
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 9, count: 32)
        body += [0] + [0x13, 0x01] + [0]
        let exts = ext(43, [0x03, 0x04])
        body += u16(exts.count) + exts
        return record(22, handshake(2, body))
    }

    static var changeCipherSpec: [UInt8] { record(20, [1]) }

    static func applicationData(_ count: Int, fill: UInt8 = 0xAB) -> [UInt8] {
        record(23, [UInt8](repeating: fill, count: count))
    }

    static func alert(_ level: UInt8, _ description: UInt8) -> [UInt8] { record(21, [level, description]) }
}
