import VeilWire
import Testing
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Plain-http forwarding, fed events with no sockets: the head and exactly the body go out (by
/// length, chunked, malformed), the response is spliced back, and every way it ends.
@Suite("ForwardMachine: plain-http request out, response spliced back")
struct ForwardMachineTests {
    typealias Harness = TransferHarness<ForwardMachine>

    /// A harness for `text` (a request head and whatever the client pipelined after it), and
    /// the head as the origin gets it.
    static func harness(_ buffers: RecordBuffers, _ text: String, idle: Double = 300) throws -> (Harness, [UInt8]) {
        let bytes = Array(text.utf8)
        guard case .request(let request) = ConnectRequestParser(allowsForward: true).parse(bytes) else {
            throw Failure("not a request")
        }
        let forward = try ForwardRequest(request)
        bytes.withUnsafeBytes { buffers.client.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        let stream = ForwardRequestStream(forward, buffer: buffers.client, pipelined: request.headerLength..<bytes.count,
                                          bufferSize: RecordBuffers.capacity)
        return (Harness(ForwardMachine(stream, idleTimeout: idle, pipeSizeLimit: 1 << 20)), forward.head)
    }

    struct Failure: Error {
        let what: String
        init(_ what: String) { self.what = what }
    }

    @Test func aRequestWithoutBodyAndItsResponse() throws {
        let buffers = RecordBuffers()
        var (h, head) = try Self.harness(buffers, "GET http://example.com/a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(h.start() == ["mode http", "path splice", "deadline 300.0", "non-blocking", "open pipe down",
                              "path splice", "deadline 300.0", "in down 65536", "send upstream \(head.count) after poll"])
        // The head out, nothing is read from the client: there is no body.
        #expect(h.deliver(.upstream) == ["moved up \(head.count)"])
        #expect(h.delivered[.upstream] == head)
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("GET /a HTTP/1.1\r\nHost: example.com\r\n"))
        // The response comes back, then the origin closes: the client's write side is shut.
        h.feed(.polled(.down))
        #expect(h.feed(.splicedIn(.down, result: 500)) == ["out down 500", "in down 65036"])
        #expect(h.feed(.splicedOut(.down, result: 500, now: h.now)) == ["moved down 500"])
        h.feed(.polled(.down))
        #expect(h.feed(.splicedIn(.down, result: 0)) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
    }

    @Test func exactlyTheBodyByLengthAndNothingAfterIt() throws {
        let buffers = RecordBuffers()
        var (h, head) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nContent-Length: 10\r\n\r\n1234")
        _ = h.start()
        // The head goes with the four pipelined body bytes.
        #expect(h.sending[.upstream] == head + Array("1234".utf8))
        #expect(h.deliver(.upstream) == ["moved up \(head.count + 4)", "receive client \(RecordBuffers.capacity) after poll"])
        // The rest of the body, and a second request behind it that is never forwarded.
        h.peerSends(.client, Array("567890GET http://other/ HTTP/1.1\r\n\r\n".utf8))
        #expect(h.sending[.upstream] == Array("567890".utf8))
        #expect(h.deliver(.upstream) == ["moved up 6"])
        #expect(h.receiving[.client] == nil)
        #expect(h.delivered[.upstream] == head + Array("1234567890".utf8))
    }

    @Test func aChunkedBodyUpToItsLastChunk() throws {
        let buffers = RecordBuffers()
        var (h, head) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab")
        _ = h.start()
        h.deliver(.upstream)
        h.peerSends(.client, Array("cd\r\n".utf8))
        h.deliver(.upstream)
        h.peerSends(.client, Array("0\r\n\r\nextra".utf8))
        h.deliver(.upstream)
        #expect(h.receiving[.client] == nil)
        #expect(h.delivered[.upstream] == head + Array("4\r\nabcd\r\n0\r\n\r\n".utf8))
    }

    @Test func aMalformedChunkedBodyInThePipelinedBytes() throws {
        let buffers = RecordBuffers()
        var (h, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(h.start() == ["mode http", "path splice", "deadline 300.0", "close bad-request: client sent a malformed chunked request body"])
    }

    @Test func aMalformedChunkedBodyLater() throws {
        let buffers = RecordBuffers()
        var (h, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        _ = h.start()
        h.deliver(.upstream)
        #expect(h.peerSends(.client, Array("5\r\nabcdeX".utf8)) == ["close bad-request: client sent a malformed chunked request body"])
    }

    @Test func theClientGoneInTheMiddleOfItsBody() throws {
        let buffers = RecordBuffers()
        var (h, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        _ = h.start()
        h.deliver(.upstream)
        #expect(h.receiveEnds(.client, -EAGAIN) == ["receive client \(RecordBuffers.capacity) after poll"])
        #expect(h.receiveEnds(.client) == ["close client-gone: client closed in the middle of its request body"])
        var (r, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
        _ = r.start()
        r.deliver(.upstream)
        #expect(r.receiveEnds(.client, -ECONNRESET) == ["close client-gone: client: Connection reset by peer"])
    }

    @Test func theOriginGoneWhileTheRequestGoesOut() throws {
        let buffers = RecordBuffers()
        var (h, head) = try Self.harness(buffers, "GET http://example.com/ HTTP/1.1\r\n\r\n")
        _ = h.start()
        #expect(h.failSend(.upstream, -EAGAIN) == ["send upstream \(head.count) after poll"])
        #expect(h.deliver(.upstream, count: 5) == ["moved up 5", "send upstream \(head.count - 5) after poll"])
        #expect(h.failSend(.upstream, -EPIPE) == ["close upstream-gone: upstream: Broken pipe"])
    }

    @Test func theOriginAnsweringBeforeTheBodyIsOutEndsIt() throws {
        let buffers = RecordBuffers()
        var (h, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
        _ = h.start()
        h.deliver(.upstream)
        h.feed(.polled(.down))
        #expect(h.feed(.splicedIn(.down, result: 0)) == ["end upstream tcp-fin", "shutdown down"])
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
        #expect(h.peerSends(.client, Array("abc".utf8)).isEmpty)
    }

    @Test func theRequestGoingOutKeepsTheConnectionFromIdling() throws {
        let buffers = RecordBuffers()
        var (h, _) = try Self.harness(buffers, "POST http://example.com/ HTTP/1.1\r\nContent-Length: 100\r\n\r\n", idle: 3)
        _ = h.start()
        h.advance(seconds: 2)
        h.deliver(.upstream)
        h.advance(seconds: 2)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["deadline 5.0"])
        h.advance(seconds: 1)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["close idle-timeout: no data either way for 3s"])
    }

    @Test func theResponsePipeCannotBeOpened() throws {
        let buffers = RecordBuffers()
        let (h, _) = try Self.harness(buffers, "GET http://example.com/ HTTP/1.1\r\n\r\n")
        var m = h.machine
        var actions: [TransferAction] = []
        m.handle(.start(now: 1), &actions)
        actions.removeAll()
        m.handle(.pipesFailed("pipe2: Too many open files"), &actions)
        #expect(actions.map(Harness.describe) == ["close error: cannot start the response relay: pipe2: Too many open files"])
        actions.removeAll()
        m.handle(.sent(.upstream, result: 10, now: 2), &actions)
        #expect(actions.isEmpty)
    }
}
