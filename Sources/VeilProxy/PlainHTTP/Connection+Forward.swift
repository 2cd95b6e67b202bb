import VeilRuntime

/// Plain-http proxying (`GET http://host/path HTTP/1.1`) once the upstream connection is up:
/// ForwardMachine, driven by Connection+Transfer. The request buffer is where the rest of the
/// body is read.
extension Connection {
    func beginForward() {
        guard let f = forward, let request, let buffer = requestBuffer else {
            finish(CloseReason(.error, "internal: plain-http request without its state"))
            return
        }
        let stream = ForwardRequestStream(f.request, buffer: buffer,
                                          pipelined: request.headerLength..<max(requestFilled, request.headerLength),
                                          bufferSize: worker.recordBuffers.bufferSize)
        startTransfer(.forward(ForwardMachine(stream, idleTimeout: config.idleTimeout, pipeSizeLimit: config.pipeSize)))
    }
}
