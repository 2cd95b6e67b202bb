import VeilTLS

/// One direction of the pass-through handshake relay: reads exactly one TLS record at a time
/// (header, then exactly its body) into `buffer` and forwards it. Reading record by record means
/// nothing past the handshake is ever pulled into userspace.
///
/// The client's records are held back (`held`) while its ClientHello is incomplete, so that a
/// ClientHello cut into several records is judged whole before any of it is forwarded.
final class HandshakeRecordStream {
    let direction: TransferDirection
    /// A record buffer the owner lent (from its pool) until `releaseRecordBuffers`.
    let buffer: UnsafeMutableRawPointer
    let capacity: Int
    @exclusivity(unchecked) var flow = StreamDirection()

    /// Bytes in `buffer`: held records, the record being read, possibly pipelined bytes after it.
    @exclusivity(unchecked) var filled = 0
    /// Whole records at the start of `buffer` not forwarded yet (a ClientHello in fragments).
    @exclusivity(unchecked) var held = 0
    /// Length of the current record (at `buffer + held`) including its header, once the header
    /// is parsed; else 0.
    @exclusivity(unchecked) var recordLength = 0
    /// ClientHellos (the first, and a second after a HelloRetryRequest) already judged.
    @exclusivity(unchecked) var hellosChecked = 0
    /// Bytes of `buffer` being sent: `sendOffset..<sendEnd`.
    @exclusivity(unchecked) var sendOffset = 0
    @exclusivity(unchecked) var sendEnd = 0
    /// Split-hello: the body offset where the second record starts, while the first is sent.
    @exclusivity(unchecked) var splitAt = 0
    /// Records read so far.
    @exclusivity(unchecked) var records = 0

    init(_ direction: TransferDirection, buffer: UnsafeMutableRawPointer, capacity: Int) {
        self.direction = direction
        self.buffer = buffer
        self.capacity = capacity
    }

    var busy: Bool { flow.receiving || flow.sending }

    /// The current record's first byte.
    var record: UnsafeMutableRawPointer { buffer + held }

    /// Bytes of the next read: the header, or the rest of the current record.
    var bytesWanted: Int {
        let target = held + (recordLength == 0 ? TLSRecordHeader.size : recordLength)
        return target - filled
    }

    /// Keeps the current record back with those before it; the next one is read after it.
    func hold() {
        held += recordLength
        recordLength = 0
    }

    /// Drops the held records and the record just forwarded, keeping any bytes that followed.
    func consumeRecord() {
        let end = held + recordLength
        let rest = filled - end
        if rest > 0 { buffer.copyMemory(from: buffer + end, byteCount: rest) }
        filled = rest
        held = 0
        recordLength = 0
        splitAt = 0
    }
}
