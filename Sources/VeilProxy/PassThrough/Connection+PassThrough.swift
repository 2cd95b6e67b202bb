import VeilRuntime
import VeilWire

/// Pass-through after the `200`: the handshake relay, then the splice relay (PassThroughMachine,
/// driven by Connection+Transfer).
extension Connection {
    /// `pipelined`: the bytes of the request buffer the client sent after its request head.
    func beginHandshake(_ request: ConnectRequest, pipelined: Range<Int>) {
        guard let upBuffer = requestBuffer else {
            finish(CloseReason(.error, "internal: handshake relay started without a request"))
            return
        }
        // The request buffer becomes the client->upstream record buffer; pipelined bytes after
        // the request head stay in it, in order.
        let downBuffer = worker.recordBuffers.take()
        recordBuffer = downBuffer
        let settings = PassThroughMachine.Settings(
            handshakeTimeout: config.handshakeTimeout, idleTimeout: config.idleTimeout, pipeSizeLimit: config.pipeSize,
            logRecords: config.recordLog == .records, splitHello: config.splitHello,
            allowSNIMismatch: config.allowSNIMismatch, targetHost: request.target.host)
        startTransfer(.passThrough(PassThroughMachine(settings, clientBuffer: upBuffer,
                                                      pipelined: pipelined,
                                                      upstreamBuffer: downBuffer,
                                                      capacity: worker.recordBuffers.bufferSize)))
    }
}
