import VeilWire
/// A plain-http request on its way to the origin: the head to send, then exactly the request
/// body (by Content-Length, or chunked up to its last chunk), from what the client pipelined
/// after its head and then from the socket. What the client sends after the body (a second
/// request) is never forwarded: one request per connection.
final class ForwardBody {
    let request: ForwardRequest
    /// Body bytes still to come (Content-Length), or nil for chunked / none.
    var left: Int
    var chunks: ChunkedBodyScanner?
    /// The whole body has been forwarded (or there is none).
    var done: Bool
    var receiving = false
    var sending = false
    /// Bytes of the connection's buffer being sent: `sendStart..<sendEnd`.
    var sendStart = 0
    var sendEnd = 0

    init(request: ForwardRequest) {
        self.request = request
        switch request.body {
        case .none:
            left = 0
            done = true
        case .length(let n):
            left = n
            done = false
        case .chunked:
            left = 0
            chunks = ChunkedBodyScanner()
            done = false
        }
    }

    /// How many of `bytes` (just received, or pipelined) belong to the body; marks `done` at
    /// its end. Nil: a malformed chunked body.
    func take(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard !done else { return 0 }
        if var scanner = chunks {
            defer { chunks = scanner }
            switch scanner.scan(bytes) {
            case .more(let n): return n
            case .done(let n):
                done = true
                return n
            case .malformed: return nil
            }
        }
        let n = min(left, bytes.count)
        left -= n
        if left == 0 { done = true }
        return n
    }
}
