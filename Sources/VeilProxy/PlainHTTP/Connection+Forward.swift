import VeilRuntime
import VeilWire

/// Plain-http proxying (`GET http://host/path HTTP/1.1`) once the upstream connection is up:
/// ForwardMachine, driven by Connection+Transfer. The request buffer is where the rest of the
/// body is read.
extension Connection {
    /// `pipelined`: the bytes of the request buffer the client sent after its request head.
    func beginForward(_ request: ForwardRequest, pipelined: Range<Int>) {
        guard let buffer = requestBuffer else {
            finish(CloseReason(.error, "internal: plain-http request without its state"))
            return
        }
        let stream = ForwardRequestStream(request, buffer: buffer, pipelined: pipelined,
                                          bufferSize: worker.recordBuffers.bufferSize)
        startTransfer(.forward(ForwardMachine(stream, idleTimeout: config.idleTimeout, pipeSizeLimit: config.pipeSize)))
    }
}
