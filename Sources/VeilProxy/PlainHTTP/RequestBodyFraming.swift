import VeilWire
/// Where a plain-http request body ends, as its bytes arrive (by Content-Length, or chunked up
/// to its last chunk), so that exactly the body is forwarded and nothing after it (a second
/// request) ever reaches the origin: one request per connection.
enum RequestBodyFraming: Sendable {
    /// Content-Length: bytes still to come.
    case length(left: Int)
    case chunked(ChunkedBodyScanner)
    /// The whole body has been taken (or there is none).
    case complete

    init(_ body: ForwardRequest.Body) {
        switch body {
        case .none: self = .complete
        case .length(let n): self = n > 0 ? .length(left: n) : .complete
        case .chunked: self = .chunked(ChunkedBodyScanner())
        }
    }

    var isComplete: Bool {
        if case .complete = self { return true }
        return false
    }

    /// How many of `bytes` (just received, or pipelined after the head) belong to the body.
    /// Nil: a malformed chunked body.
    mutating func take(_ bytes: UnsafeRawBufferPointer) -> Int? {
        switch self {
        case .complete:
            return 0
        case .length(let left):
            let n = min(left, bytes.count)
            self = left - n == 0 ? .complete : .length(left: left - n)
            return n
        case .chunked(var scanner):
            switch scanner.scan(bytes) {
            case .more(let n):
                self = .chunked(scanner)
                return n
            case .done(let n):
                self = .complete
                return n
            case .malformed:
                return nil
            }
        }
    }
}
