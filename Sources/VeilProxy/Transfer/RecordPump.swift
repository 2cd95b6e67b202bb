import VeilResolver
import VeilWire
import VeilTLS

/// One direction of the handshake relay: reads exactly one TLS record at a time (header, then
/// exactly its body) from `sourceFD` into `buffer` and forwards it to `destinationFD`.
/// Reading record by record means nothing past the handshake is ever pulled into userspace.
///
/// The client's records are held back (`held`) while its ClientHello is incomplete, so that a
/// ClientHello cut into several records is judged whole before any of it is forwarded.
final class RecordPump {
    let buffer: UnsafeMutableRawPointer
    let capacity: Int
    let sourceFD: Int32
    let destinationFD: Int32
    let side: TLSFlowTracker.Side
    let inbound: RecordDirection
    let outbound: RecordDirection
    let recvOp: Connection.Op
    let sendOp: Connection.Op

    /// Bytes in `buffer`: held records, the record being read, possibly pipelined bytes after it.
    var filled = 0
    /// Whole records at the start of `buffer` not forwarded yet (a ClientHello in fragments).
    var held = 0
    /// Length of the current record (at `buffer + held`) including its header, once the header
    /// is parsed; else 0.
    var recordLength = 0
    /// ClientHellos (the first, and a second after a HelloRetryRequest) already judged.
    var hellosChecked = 0
    var receiving = false
    var sending = false
    /// Bytes of `buffer` being sent: `sendOffset..<sendEnd`.
    var sendOffset = 0
    var sendEnd = 0
    /// Split-hello: the body offset where the second record starts, while the first is sent.
    var splitAt = 0
    /// Set while switching to splice: read nothing more.
    var stopped = false
    var eof = false
    var records = 0

    init(buffer: UnsafeMutableRawPointer, capacity: Int, sourceFD: Int32, destinationFD: Int32,
         side: TLSFlowTracker.Side, recvOp: Connection.Op, sendOp: Connection.Op) {
        self.buffer = buffer
        self.capacity = capacity
        self.sourceFD = sourceFD
        self.destinationFD = destinationFD
        self.side = side
        self.recvOp = recvOp
        self.sendOp = sendOp
        if side == .client {
            inbound = .clientToProxy
            outbound = .proxyToUpstream
        } else {
            inbound = .upstreamToProxy
            outbound = .proxyToClient
        }
    }

    var busy: Bool { receiving || sending }

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
