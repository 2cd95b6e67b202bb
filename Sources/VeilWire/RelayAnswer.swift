/// The relay's answer to CONNECT: status code, and for an error the one-line reason from its
/// body (Veil's relay writes one) or else the reason phrase.
public struct RelayAnswer: Equatable {
    public let status: Int
    public let headLength: Int
    public let reason: String
    /// The body announced by Content-Length has fully arrived.
    public let bodyComplete: Bool

    /// Nil until the head is complete (or when it is not an HTTP status line).
    public init?(_ bytes: [UInt8]) {
        guard let end = RelayAnswer.headEnd(bytes) else { return nil }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.first.map(String.init) ?? ""
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]), (100...599).contains(code) else {
            status = 0
            headLength = end + 4
            reason = "not an HTTP answer: \(HTTPStatusResponse.sanitise(String(statusLine.prefix(80))))"
            bodyComplete = true
            return
        }
        status = code
        headLength = end + 4
        var length = 0
        for line in lines.dropFirst() {
            let l = line.lowercased()
            if l.hasPrefix("content-length:") { length = Int(String(l.dropFirst(15)).trimmingWhitespace()) ?? 0 }
        }
        let available = bytes.count - headLength
        bodyComplete = available >= min(length, 4096)
        let body = String(decoding: bytes[headLength..<(headLength + min(available, length, 4096))], as: UTF8.self)
            .trimmingWhitespace()
        let phrase = parts.count > 2 ? String(parts[2]) : ""
        reason = HTTPStatusResponse.sanitise(body.isEmpty ? phrase : body)
    }

    /// The head's fields after the status line (`bytes`: what this answer was parsed from):
    /// lower-case names, values trimmed, in order.
    public func fields(in bytes: [UInt8]) -> [(name: String, value: String)] {
        let text = String(decoding: bytes[..<min(headLength - 4, bytes.count)], as: UTF8.self)
        var fields: [(name: String, value: String)] = []
        for line in text.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimmingWhitespace()))
        }
        return fields
    }

    private static func headEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 {
            return i
        }
        return nil
    }
}
