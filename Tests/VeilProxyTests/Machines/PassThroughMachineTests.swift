import Testing
@testable import VeilProxy
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// The pass-through handshake relay, fed events with no sockets: record by record, the
/// ClientHello held and judged, split-hello, the record-log relay, the switch to splice, and
/// every way it ends.
@Suite("PassThroughMachine: handshake relay, switch, record relay")
struct PassThroughMachineTests {
    typealias Harness = TransferHarness<PassThroughMachine>

    static func settings(logRecords: Bool = false, splitHello: Bool = false, allowSNIMismatch: Bool = false,
                         handshakeTimeout: Double = 15, idleTimeout: Double = 300) -> PassThroughMachine.Settings {
        .init(handshakeTimeout: handshakeTimeout, idleTimeout: idleTimeout, pipeSizeLimit: 1 << 20,
              logRecords: logRecords, splitHello: splitHello, allowSNIMismatch: allowSNIMismatch,
              targetHost: "example.com")
    }

    static func harness(_ buffers: RecordBuffers, _ settings: PassThroughMachine.Settings = settings(),
                        pipelined: [UInt8] = []) -> Harness {
        let range = buffers.request(pipelined: pipelined)
        return Harness(PassThroughMachine(settings, clientBuffer: buffers.client, pipelined: range,
                                          upstreamBuffer: buffers.upstream, capacity: RecordBuffers.capacity))
    }

    /// Runs a TLS 1.3 handshake through `h` up to the client's first encrypted record.
    static func handshake(_ h: inout Harness, sni: String? = "example.com") {
        h.peerSends(.client, TLSBytes.clientHello(sni: sni))
        h.settle()
        h.peerSends(.upstream, TLSBytes.serverHello + TLSBytes.applicationData(40))
        h.settle()
        h.peerSends(.client, TLSBytes.changeCipherSpec + TLSBytes.applicationData(30))
        h.settle()
    }

    @Test func aTLS13HandshakeIsRelayedRecordByRecordThenSpliced() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        #expect(h.start() == ["deadline 15.0", "receive client 5", "receive upstream 5"])
        let hello = TLSBytes.clientHello(sni: "Example.COM.")
        // The header, then exactly the body.
        h.inbound[.client] = hello
        #expect(h.pump(.client) == ["receive client \(hello.count - 5)", "sni Example.COM.", "send upstream \(hello.count)"])
        #expect(h.deliver(.upstream) == ["moved up \(hello.count)", "receive client 5"])
        #expect(h.delivered[.upstream] == hello)
        let sh = TLSBytes.serverHello
        h.inbound[.upstream] = sh
        #expect(h.pump(.upstream) == ["receive upstream \(sh.count - 5)", "tls TLSv1.3 TLS_AES_128_GCM_SHA256 -", "send client \(sh.count)"])
        h.settle()
        h.peerSends(.upstream, TLSBytes.applicationData(40))
        h.settle()
        h.peerSends(.client, TLSBytes.changeCipherSpec)
        h.settle()
        // The client's first encrypted record ends a TLS 1.3 handshake: once it is out, the
        // read in flight upstream is cancelled and the splice relay starts.
        h.peerSends(.client, TLSBytes.applicationData(30))
        #expect(h.deliver(.upstream) == ["moved up 35", "cancel receive upstream"])
        #expect(h.receiveEnds(.upstream, -ECANCELED) == [
            "release record buffers", "non-blocking", "open pipes", "path splice", "deadline 300.0",
            "in up 65536", "in down 65536",
        ])
        #expect(h.delivered[.client] == sh + TLSBytes.applicationData(40))
        guard case .splicing = h.machine.state else {
            Issue.record("not splicing: \(h.transcript)")
            return
        }
        // From here the splice machine runs: both EOFs end it.
        for d in [TransferDirection.up, .down] {
            h.feed(.polled(d))
            h.feed(.splicedIn(d, result: 0))
            h.feed(.splicedOut(d, result: -EAGAIN, now: h.now))
        }
        #expect(Array(h.log.suffix(4)) == ["end client tcp-fin", "shutdown up", "end upstream tcp-fin", "shutdown down"])
        h.feed(.shutDown(.up))
        #expect(h.feed(.shutDown(.down)) == ["close ok: both sides closed"])
        guard case .closed = h.machine.state else { Issue.record("not closed"); return }
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000_000)).isEmpty)
    }

    @Test func pipelinedBytesAreTheFirstRecords() {
        let buffers = RecordBuffers()
        let hello = TLSBytes.clientHello(sni: "example.com")
        var h = Self.harness(buffers, pipelined: hello + [0x14])
        #expect(h.start() == ["deadline 15.0", "sni example.com", "send upstream \(hello.count)", "receive upstream 5"])
        // The byte after the ClientHello stays, and the next header is completed from the socket.
        #expect(h.deliver(.upstream) == ["moved up \(hello.count)", "receive client 4"])
    }

    @Test func aFragmentedClientHelloIsHeldUntilWholeAndJudged() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true))
        _ = h.start()
        let fragments = TLSBytes.clientHelloFragments(sni: "example.com", padding: 300, size: 100)
        #expect(fragments.count > 3)
        for f in fragments.dropLast() {
            h.peerSends(.client, f)
            #expect(h.sending[.upstream] == nil)
        }
        h.peerSends(.client, fragments.last ?? [])
        let all = fragments.flatMap { $0 }
        #expect(h.sending[.upstream] == all)
        #expect(h.log.filter { $0.hasPrefix("log client->proxy") }.count == fragments.count)
        #expect(h.log.contains("sni example.com"))
    }

    @Test func fragmentsOutgrowingTheBufferAreRefused() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        // 18.4 KB of ClientHello in records of 4 KiB: the fifth does not fit with the headers.
        let fragments = TLSBytes.clientHelloFragments(sni: "example.com", padding: 18400, size: 4096)
        for f in fragments { h.peerSends(.client, f) }
        #expect(h.log.suffix(2) == ["deadline 2.0", "refuse handshake alert decode_error"])
        #expect(h.sending[.upstream] == nil)
        // Nothing more is read; the alert goes out, then the connection closes.
        #expect(h.feed(.refusalSent) == ["close handshake-failed: client sent a ClientHello in fragments of more than 18437 bytes in all"])
    }

    @Test func anSNIThatIsNotTheConnectHostIsRefused() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "other.example"))
        #expect(h.log.suffix(3) == ["sni other.example", "deadline 2.0", "refuse handshake alert access_denied"])
        #expect(h.sending[.upstream] == nil)
        // A late completion changes nothing; the deadline closes it if the alert never completes.
        #expect(h.receiveEnds(.upstream, -ECANCELED).isEmpty)
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000)) == ["deadline 2.0"])
        #expect(h.feed(.deadlinePassed(now: h.now + 2_000_000_000)) == [
            "close sni-mismatch: ClientHello SNI other.example differs from CONNECT host example.com (allow with --allow-sni-mismatch)",
        ])
        #expect(h.feed(.refusalSent).isEmpty)
    }

    @Test func anSNIMismatchCanBeAllowed() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(allowSNIMismatch: true))
        _ = h.start()
        let hello = TLSBytes.clientHello(sni: "other.example")
        h.peerSends(.client, hello)
        #expect(h.sending[.upstream] == hello)
    }

    @Test func aClientHelloWithoutSNIGoesOn() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        let hello = TLSBytes.clientHello(sni: nil)
        h.peerSends(.client, hello)
        #expect(h.log.contains("sni -"))
        #expect(h.sending[.upstream] == hello)
    }

    @Test func bytesThatAreNotTLSEndTheConnection() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        #expect(h.peerSends(.client, Array("GET / HTTP/1.1\r\n".utf8)) == [
            "close not-tls: client sent non-TLS data (first byte 0x47)",
        ])
        // Whatever completes after the close is ignored.
        #expect(h.receiveEnds(.upstream, -ECANCELED).isEmpty)
    }

    @Test func invalidTLSFromTheUpstreamIsAHandshakeFailure() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        #expect(h.peerSends(.upstream, [0x16, 0x02, 0x00, 0x00, 0x01]) == [
            "close handshake-failed: upstream sent invalid TLS: bad record version 0x0200 (major version must be 3)",
        ])
    }

    @Test func aClientRecordBeforeTheHelloIsHandshakeFailedAfterTheFirst() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        #expect(h.peerSends(.client, TLSBytes.changeCipherSpec).last == "close not-tls: client sent invalid TLS: unexpected message (expected ClientHello)")
    }

    @Test func splitHelloSendsTheClientHelloAsTwoRecords() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true, splitHello: true))
        _ = h.start()
        let hello = TLSBytes.clientHello(sni: "example.com")
        h.peerSends(.client, hello)
        let body = Array(hello.dropFirst(5))
        guard let first = h.sending[.upstream] else { Issue.record("nothing sent"); return }
        h.deliver(.upstream)
        guard let second = h.sending[.upstream] else { Issue.record("no second record"); return }
        h.deliver(.upstream)
        // Two handshake records whose bodies, together, are the ClientHello's; the cut lies
        // inside the server name.
        let firstLength = Int(first[3]) << 8 | Int(first[4])
        let secondLength = Int(second[3]) << 8 | Int(second[4])
        #expect(Array(first.prefix(3)) == [22, 3, 1] && Array(second.prefix(3)) == [22, 3, 1])
        #expect(firstLength + secondLength == body.count)
        #expect(Array(first.dropFirst(5)) + Array(second.dropFirst(5)) == body)
        let name = Array("example.com".utf8)
        let nameStart = body.firstRange(of: name)?.lowerBound ?? -1
        #expect(firstLength > nameStart && firstLength < nameStart + name.count)
        #expect(h.log.filter { $0.contains("ClientHello fragment (split-hello)") }.count == 2)
        #expect(h.log.last == "receive client 5")
    }

    @Test func splitHelloWithoutSNISendsItWhole() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(splitHello: true))
        _ = h.start()
        let hello = TLSBytes.clientHello(sni: nil)
        h.peerSends(.client, hello)
        #expect(h.log.contains("diagnostic --split-hello: no server_name to split; ClientHello sent whole"))
        #expect(h.sending[.upstream] == hello)
    }

    @Test func recordLogRecordsKeepsTheRecordRelayAndLogsEveryRecord() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true))
        _ = h.start()
        Self.handshake(&h)
        #expect(h.log.contains("path userspace"))
        #expect(h.log.contains("deadline 300.0"))
        #expect(!h.log.contains("open pipes"))
        h.peerSends(.upstream, TLSBytes.applicationData(100))
        h.settle()
        #expect(h.log.contains("log upstream->proxy application_data 100"))
        #expect(h.delivered[.client]?.suffix(105) == TLSBytes.applicationData(100)[...])
        guard case .recordRelay = h.machine.state else { Issue.record("not in the record relay"); return }
    }

    @Test func recordRelayHalfClosesClientFirst() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true))
        _ = h.start()
        Self.handshake(&h)
        #expect(h.receiveEnds(.client) == ["end client tcp-fin", "shutdown up"])
        // The other direction keeps running.
        h.peerSends(.upstream, TLSBytes.applicationData(10))
        h.settle()
        #expect(h.delivered[.client]?.suffix(15) == TLSBytes.applicationData(10)[...])
        #expect(h.receiveEnds(.upstream) == ["end upstream tcp-fin", "shutdown down", "close ok: both sides closed"])
    }

    @Test func recordRelayHalfClosesUpstreamFirst() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true))
        _ = h.start()
        Self.handshake(&h)
        #expect(h.receiveEnds(.upstream) == ["end upstream tcp-fin", "shutdown down"])
        h.feed(.shutDown(.down))
        h.peerSends(.client, TLSBytes.applicationData(10))
        h.settle()
        #expect(h.receiveEnds(.client) == ["end client tcp-fin", "shutdown up", "close ok: both sides closed"])
    }

    @Test func recordRelayEOFInsideARecord() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true))
        _ = h.start()
        Self.handshake(&h)
        h.peerSends(.upstream, Array(TLSBytes.applicationData(100).prefix(50)))
        #expect(h.receiveEnds(.upstream) == ["end upstream fin-mid-record", "close upstream-gone: upstream closed in the middle of a record"])
    }

    @Test func recordRelayIdleTimeout() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(logRecords: true, idleTimeout: 3))
        _ = h.start()
        Self.handshake(&h)
        #expect(h.log.contains("deadline 3.0"))
        h.advance(seconds: 2)
        h.peerSends(.client, TLSBytes.applicationData(10))
        h.settle()
        h.advance(seconds: 1.5)
        // Data moved 1.5 s ago: not idle yet; the deadline moves to 3 s after it.
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["deadline 5.0"])
        h.advance(seconds: 1.5)
        #expect(h.feed(.deadlinePassed(now: h.now)) == ["close idle-timeout: no data either way for 3s"])
    }

    @Test func theHandshakeDeadline() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(handshakeTimeout: 2))
        #expect(h.start().first == "deadline 2.0")
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        // An early sweep (another deadline of the connection) re-arms it.
        #expect(h.feed(.deadlinePassed(now: h.now + 1_000_000_000)) == ["deadline 2.0"])
        #expect(h.feed(.deadlinePassed(now: h.now + 2_000_000_000)) == ["close handshake-timeout: TLS handshake not complete within 2s"])
    }

    @Test func theHandshakeDeadlineWhileSwitching() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers, Self.settings(handshakeTimeout: 0.5))
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.serverHello)
        h.settle()
        h.peerSends(.client, TLSBytes.applicationData(30))
        h.deliver(.upstream)
        guard case .switching = h.machine.state else { Issue.record("not switching: \(h.transcript)"); return }
        #expect(h.feed(.deadlinePassed(now: h.now + 600_000_000)) == ["close handshake-timeout: TLS handshake not complete within 0.5s"])
    }

    @Test func theSwitchForwardsWhatACancelledReadBrought() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.serverHello)
        h.settle()
        h.peerSends(.client, TLSBytes.applicationData(30))
        h.deliver(.upstream)
        // The upstream read in flight was cancelled but had 3 bytes of a record header: they go
        // on untouched, then the splice starts.
        #expect(h.receiving[.upstream] != nil)
        let part: [UInt8] = [23, 3, 3]
        part.withUnsafeBytes { h.receiving[.upstream]?.into.copyMemory(from: $0.baseAddress!, byteCount: 3) }
        #expect(h.feed(.received(.upstream, result: 3, now: h.now)) == ["send client 3"])
        #expect(h.deliver(.client) == ["moved down 3", "release record buffers", "non-blocking", "open pipes",
                                       "path splice", "deadline 300.0", "in up 65536", "in down 65536"])
        #expect(h.delivered[.client]?.suffix(3) == part[...])
    }

    @Test func theClientClosingDuringTheHandshake() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        #expect(h.receiveEnds(.client) == ["end client tcp-fin", "close client-gone: client closed during the TLS handshake"])
    }

    @Test func theUpstreamClosingInsideARecordDuringTheHandshake() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, Array(TLSBytes.serverHello.prefix(20)))
        #expect(h.receiveEnds(.upstream) == [
            "end upstream fin-mid-record",
            "close upstream-gone: upstream closed during the TLS handshake (in the middle of a record: 20 of \(TLSBytes.serverHello.count) bytes)",
        ])
    }

    @Test func aResetDuringTheHandshake() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        #expect(h.receiveEnds(.upstream, -ECONNRESET) == ["end upstream reset", "close upstream-gone: upstream: Connection reset by peer"])
    }

    @Test func anAlertIsBlamedOnWhoSentIt() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.alert(2, 40))
        h.settle()
        #expect(h.log.contains("send client 7"))
        // The client, told, closes first: the upstream's alert is still the reason.
        #expect(h.receiveEnds(.client) == ["end client tcp-fin", "close handshake-failed: upstream sent alert fatal handshake_failure; then the client closed"])
    }

    @Test func anAlertThenItsSenderCloses() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        h.settle()
        h.peerSends(.upstream, TLSBytes.alert(2, 70))
        h.settle()
        #expect(h.receiveEnds(.upstream) == ["end upstream tcp-fin", "close handshake-failed: upstream sent alert fatal protocol_version and closed"])
    }

    @Test func aFailedSendBlamesItsDestination() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        h.peerSends(.client, TLSBytes.clientHello(sni: "example.com"))
        #expect(h.failSend(.upstream, -EPIPE) == ["end upstream reset", "close upstream-gone: upstream: Broken pipe"])
    }

    @Test func partialAndRetriedSends() {
        let buffers = RecordBuffers()
        var h = Self.harness(buffers)
        _ = h.start()
        let hello = TLSBytes.clientHello(sni: "example.com")
        h.peerSends(.client, hello)
        #expect(h.failSend(.upstream, -EAGAIN) == ["send upstream \(hello.count)"])
        #expect(h.deliver(.upstream, count: 10) == ["moved up 10", "send upstream \(hello.count - 10)"])
        #expect(h.deliver(.upstream) == ["moved up \(hello.count - 10)", "receive client 5"])
        #expect(h.delivered[.upstream] == hello)
        // An interrupted receive is asked again.
        #expect(h.receiveEnds(.client, -EINTR) == ["receive client 5"])
    }
}
