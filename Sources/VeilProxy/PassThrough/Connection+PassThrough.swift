import VeilRuntime

/// Pass-through after the `200`: the handshake relay, then the splice relay (PassThroughMachine,
/// driven by Connection+Transfer).
extension Connection {
    func beginHandshake() {
        guard let request, let upBuffer = requestBuffer else {
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
                                                      pipelined: request.headerLength..<max(requestFilled, request.headerLength),
                                                      upstreamBuffer: downBuffer,
                                                      capacity: worker.recordBuffers.bufferSize)))
    }
}
