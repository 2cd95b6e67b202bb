import VeilWire
/// One RFC 8484 POST (`application/dns-message`) on an established TLS connection, over HTTP/2
/// (what unbound and most public resolvers speak) or HTTP/1.1.
///
/// The HTTP/2 side is the least a single request needs: the preface and an empty SETTINGS,
/// one HEADERS frame (HPACK literals, no Huffman, nothing indexed), one DATA frame; from the
/// server, SETTINGS and PING are acknowledged, :status is read from the first header field
/// when it is in HPACK's static table (how servers send 200), and DATA of stream 1 is collected
/// until END_STREAM.
enum DoHExchange {
    typealias Failure = BlockingTLSConnection.Failure

    static func http1(_ c: BlockingTLSConnection, query: [UInt8], authority: String, path: String) throws(Failure) -> [UInt8] {
        let head = "POST \(path) HTTP/1.1\r\nHost: \(authority)\r\nContent-Type: application/dns-message\r\n"
            + "Accept: application/dns-message\r\nContent-Length: \(query.count)\r\nConnection: close\r\n\r\n"
        try c.write(Array(head.utf8) + query)
        var got: [UInt8] = []
        var headerEnd: Int?
        var contentLength: Int?
        while true {
            if headerEnd == nil, let r = find(got, [13, 10, 13, 10]) {
                headerEnd = r + 4
                let text = String(decoding: got[0..<r], as: UTF8.self)
                let lines = text.split(separator: "\r\n")
                let status = lines.first.map { $0.split(separator: " ") }.flatMap { $0.count >= 2 ? Int($0[1]) : nil }
                guard status == 200 else {
                    throw Failure("DoH server answered '\(lines.first.map(String.init) ?? "?")'")
                }
                for l in lines.dropFirst() where l.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(l.dropFirst("content-length:".count).trimmingCharacters(in: " \t"))
                }
            }
            if let h = headerEnd, let n = contentLength, got.count >= h + n { return Array(got[h..<(h + n)]) }
            let more = try c.read()
            if more.isEmpty {
                guard let h = headerEnd else { throw Failure("DoH server closed before its response head") }
                return Array(got[h...])
            }
            got += more
        }
    }

    static func http2(_ c: BlockingTLSConnection, query: [UInt8], authority: String, path: String) throws(Failure) -> [UInt8] {
        var block: [UInt8] = [0x83, 0x87]                  // :method POST, :scheme https
        literal(4, path, &block)                          // :path
        literal(1, authority, &block)                     // :authority
        literal(31, "application/dns-message", &block)    // content-type
        literal(19, "application/dns-message", &block)    // accept
        literal(28, String(query.count), &block)          // content-length
        var out = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
        out += frame(type: 4, flags: 0, stream: 0, [])
        out += frame(type: 1, flags: 0x4, stream: 1, block)
        out += frame(type: 0, flags: 0x1, stream: 1, query)
        try c.write(out)

        var buffer: [UInt8] = []
        var body: [UInt8] = []
        var status: Int?
        while true {
            while buffer.count >= 9 {
                let length = Int(buffer[0]) << 16 | Int(buffer[1]) << 8 | Int(buffer[2])
                guard buffer.count >= 9 + length else { break }
                let type = buffer[3], flags = buffer[4]
                let stream = (UInt32(buffer[5]) << 24 | UInt32(buffer[6]) << 16 | UInt32(buffer[7]) << 8 | UInt32(buffer[8])) & 0x7fff_ffff
                var payload = Array(buffer[9..<(9 + length)])
                buffer.removeFirst(9 + length)
                switch type {
                case 4 where flags & 1 == 0:
                    try c.write(frame(type: 4, flags: 1, stream: 0, []))
                case 6 where flags & 1 == 0:
                    try c.write(frame(type: 6, flags: 1, stream: 0, payload))
                case 1 where stream == 1:
                    if flags & 0x8 != 0, let pad = payload.first { payload = Array(payload.dropFirst().dropLast(Int(pad))) }
                    if flags & 0x20 != 0 { payload = Array(payload.dropFirst(5)) }
                    status = firstStatus(payload)
                    if let s = status, s != 200 { throw Failure("DoH server answered HTTP status \(s)") }
                    if flags & 0x1 != 0 { throw Failure("DoH server answered without a body") }
                case 0 where stream == 1:
                    if flags & 0x8 != 0, let pad = payload.first { payload = Array(payload.dropFirst().dropLast(Int(pad))) }
                    body += payload
                    if flags & 0x1 != 0 { return body }
                case 3 where stream == 1:
                    throw Failure("DoH server reset the request (HTTP/2 error \(payload.last ?? 0))")
                case 7:
                    throw Failure("DoH server sent GOAWAY")
                default:
                    break
                }
            }
            let more = try c.read()
            guard !more.isEmpty else { throw Failure("DoH server closed the connection before answering") }
            buffer += more
        }
    }

    private static func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
        let n = payload.count
        return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags,
                UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)] + payload
    }

    /// HPACK "literal header field without indexing, indexed name" (RFC 7541 6.2.2), no Huffman.
    private static func literal(_ nameIndex: Int, _ value: String, _ out: inout [UInt8]) {
        integer(nameIndex, prefixBits: 4, first: 0x00, &out)
        let v = Array(value.utf8)
        integer(v.count, prefixBits: 7, first: 0x00, &out)
        out += v
    }

    private static func integer(_ value: Int, prefixBits: Int, first: UInt8, _ out: inout [UInt8]) {
        let max = (1 << prefixBits) - 1
        if value < max { out.append(first | UInt8(value)); return }
        out.append(first | UInt8(max))
        var v = value - max
        while v >= 128 { out.append(UInt8(v & 0x7f | 0x80)); v >>= 7 }
        out.append(UInt8(v))
    }

    /// :status from the first header field when it is an indexed static-table entry (8-14), or
    /// a plain literal with the :status name; nil otherwise (then the body has to speak).
    static func firstStatus(_ block: [UInt8]) -> Int? {
        guard let b = block.first else { return nil }
        let statuses = [8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500]
        if b & 0x80 != 0 { return statuses[Int(b & 0x7f)] }
        let nameIndex = b & 0xc0 == 0x40 ? Int(b & 0x3f) : Int(b & 0x0f)
        guard (8...14).contains(nameIndex), block.count >= 2, block[1] & 0x80 == 0 else { return nil }
        let n = Int(block[1] & 0x7f)
        guard block.count >= 2 + n else { return nil }
        return Int(String(decoding: block[2..<(2 + n)], as: UTF8.self))
    }

    private static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i] == needle[0] && Array(hay[i..<(i + needle.count)]) == needle {
            return i
        }
        return nil
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
