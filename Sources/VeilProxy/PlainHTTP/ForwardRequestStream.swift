import VeilWire
/// The request direction of a plain-http forward: the head (rewritten for the origin) and
/// whatever of the body the client pipelined after its own head, from a buffer of their own;
/// then the rest of the body, read into the owner's request buffer and sent on as it comes.
///
/// It lives as long as the machine (the owner frees it after the connection's last operation),
/// because the kernel may read `staged` until then.
final class ForwardRequestStream {
    /// The rewritten head, then the bytes the client sent after its own head.
    let staged: UnsafeMutableRawPointer
    let headCount: Int
    let pipelinedCount: Int
    /// The owner's buffer the rest of the body is read into.
    let buffer: UnsafeMutableRawPointer
    let bufferSize: Int
    var framing: RequestBodyFraming
    var flow = StreamDirection()
    /// What is being sent: `base[sendStart..<sendEnd]`.
    var base: UnsafeRawPointer
    var sendStart = 0
    var sendEnd = 0

    /// `buffer` holds the client's request; the bytes at `pipelined` came after its head.
    init(_ request: ForwardRequest, buffer: UnsafeMutableRawPointer, pipelined: Range<Int>, bufferSize: Int) {
        let headCount = request.head.count
        let staged = UnsafeMutableRawPointer.allocate(byteCount: max(headCount + pipelined.count, 1), alignment: 1)
        request.head.withUnsafeBytes { if let b = $0.baseAddress { staged.copyMemory(from: b, byteCount: headCount) } }
        if !pipelined.isEmpty {
            (staged + headCount).copyMemory(from: buffer + pipelined.lowerBound, byteCount: pipelined.count)
        }
        self.staged = staged
        self.headCount = headCount
        pipelinedCount = pipelined.count
        framing = RequestBodyFraming(request.body)
        self.buffer = buffer
        self.bufferSize = bufferSize
        base = UnsafeRawPointer(staged)
    }

    deinit { staged.deallocate() }

    /// The pipelined bytes (after the head in `staged`).
    var pipelined: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: staged + headCount, count: pipelinedCount)
    }
}
