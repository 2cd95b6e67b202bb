import Testing
import VeilRuntime
import VeilTLS
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// The HTTPS listener's (and a relay tunnel's) outer TLS session alone: event lists in, actions
/// out. The peer is a real OpenSSL client engine; the "sockets" are the test moving bytes
/// between the machine's buffers and that engine.
@Suite("OuterSessionMachine: handshake -> kTLS/bridge -> relay -> ends")
struct OuterSessionMachineTests {
    /// The listener's certificate (minted by a test CA) and a client context trusting that CA.
    struct Fixture: Sendable {
        let minter: CertificateMinter
        let certificate: MintedCertificate
        let serverContext: TLSContext
        let clientContext: TLSContext
    }

    static let fixture: Result<Fixture, any Error> = Result {
        var template = Array("/tmp/veil-outer-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } } ?? "/tmp"
        let ca = try CertificateAuthority.loadOrCreate(home: dir + "/home")
        let minter = try CertificateMinter(authority: ca)
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        return Fixture(minter: minter, certificate: try minter.certificate(for: "proxy.test"),
                       serverContext: try TLSContext.clientFacing(), clientContext: try TLSContext.upstream(options))
    }

    typealias M = OuterSessionMachine

    /// One session, its peer, the operations the machine has asked for and not seen complete.
    final class Run {
        static let second: UInt64 = 1_000_000_000
        var machine: M
        let peer: TLSEngine
        let server: TLSEngine?
        let up = UnsafeMutableRawPointer.allocate(byteCount: 32 << 10, alignment: 16)
        let down = UnsafeMutableRawPointer.allocate(byteCount: 32 << 10, alignment: 16)
        let record = UnsafeMutableRawPointer.allocate(byteCount: 17 << 10, alignment: 16)
        var outerReceive: (UnsafeMutableRawPointer, Int)?
        var outerSend: (UnsafeRawPointer, Int)?
        var recordReceive = false
        var recordSend: (UInt8, [UInt8])?
        var bridgeReceive: (UnsafeMutableRawPointer, Int)?
        var bridgeSend: (UnsafeRawPointer, Int)?
        var toBridge: [UInt8] = []
        var all: [String] = []

        static func settings(_ peer: OuterPeer = .listenerClient, kernelTLS: Bool = false,
                             recordLayer: RecordLayerMode = .veil, graceDeadline: UInt64? = nil) -> M.Settings {
            M.Settings(peer: peer, handshakeTimeout: 15, grace: 10, kernelTLS: kernelTLS, recordLayer: recordLayer,
                       started: 1_000 * second, graceDeadline: graceDeadline)
        }

        /// A listener session for a new client (`engine`: nil for a listener without set-up).
        init(_ settings: M.Settings = Run.settings(), noListener: Bool = false) throws {
            let f = try OuterSessionMachineTests.fixture.get()
            peer = try TLSEngine(context: f.clientContext, role: .client)
            try peer.configureClient(serverName: "proxy.test", verifyName: "proxy.test", alpn: [], session: nil)
            if noListener {
                server = nil
                machine = M(listener: .failure(.noListener), settings: settings)
            } else {
                let e = try TLSEngine(context: f.serverContext, role: .server, inboundCapacity: 64 << 10,
                                      outboundCapacity: 64 << 10)
                try e.configureServer(certificate: f.certificate, minter: f.minter, alpn: nil)
                server = e
                machine = M(listener: .success(e), settings: settings)
            }
        }

        /// A tunnel's session: `peer` is the relay (server role here), the machine's engine the
        /// client, established in memory.
        init(tunnel settings: M.Settings, pending: [UInt8] = [], leftover: [UInt8] = []) throws {
            let f = try OuterSessionMachineTests.fixture.get()
            let client = try TLSEngine(context: f.clientContext, role: .client)
            try client.configureClient(serverName: "proxy.test", verifyName: "proxy.test", alpn: [], session: nil)
            peer = try TLSEngine(context: f.serverContext, role: .server)
            try peer.configureServer(certificate: f.certificate, minter: f.minter, alpn: nil)
            server = nil
            Run.handshakeInMemory(client, peer)
            _ = client.read(into: record, max: 16)  // (the session tickets)
            if !leftover.isEmpty { _ = client.inbound.append(leftover) }
            machine = M(tunnel: client, pending: pending, buffers: OuterBuffers(up: up, down: down), settings: settings)
        }

        deinit {
            up.deallocate()
            down.deallocate()
            record.deallocate()
        }

        static func handshakeInMemory(_ a: TLSEngine, _ b: TLSEngine) {
            for _ in 0..<20 {
                let x = a.handshake()
                move(a, b)
                let y = b.handshake()
                move(b, a)
                if x == .complete && y == .complete && a.outbound.readable == 0 && b.outbound.readable == 0 { break }
            }
        }

        static func move(_ from: TLSEngine, _ to: TLSEngine) {
            while from.outbound.readable > 0 {
                let n = to.inbound.append(from.outbound.readPointer, count: from.outbound.readable)
                from.outbound.consume(n)
                if n == 0 { break }
            }
        }

        var state: M.State { machine.state }
        var closeReason: String? { machine.closeReason.map { "\($0.kind.rawValue): \($0.reason)" } }

        @discardableResult
        func on(_ event: M.Event) -> [String] {
            var actions: [M.Action] = []
            machine.handle(event, &actions)
            var described: [String] = []
            for a in actions {
                switch a {
                case .receive(.outer, let p, let n): outerReceive = (p, n); described.append("receive outer")
                case .receive(.bridge, let p, let n): bridgeReceive = (p, n); described.append("receive bridge")
                case .receiveRecord: recordReceive = true; described.append("receive record")
                case .send(.outer, let p, let n): outerSend = (p, n); described.append("send outer")
                case .send(.bridge, let p, let n): bridgeSend = (p, n); described.append("send bridge \(n)")
                case .sendRecord(let type, let bytes): recordSend = (type, bytes); described.append("send record \(type) \(bytes)")
                case .shutdownWrite(.outer): described.append("shut outer")
                case .shutdownWrite(.bridge): described.append("shut bridge")
                case .setDeadline(.after(let n)): described.append("deadline +\(n / Run.second)s")
                case .setDeadline(.at(let t)): described.append("deadline at \(t / Run.second)")
                case .setDeadline(.none): described.append("deadline none")
                case .installKernelTLS: described.append("install kTLS")
                case .openBridge(let info): described.append("open bridge \(info.tls) \(info.path.map { "\($0)" } ?? "-") \(info.note ?? "-")")
                case .tunnelEstablished(let path, let note): described.append("tunnel \(path) \(note ?? "-")")
                case .noteRecords(let what, let note): described.append("records \(what)\(note.map { " (\($0))" } ?? "")")
                case .noteEnd(let end): described.append("end \(end.token)")
                case .endConnection(let r): described.append("end connection \(r.kind.rawValue)")
                case .close(let r, let summary):
                    described.append("close \(r.kind.rawValue): \(r.reason)" + (summary.map { " [\($0.tls)]" } ?? ""))
                }
            }
            all += described
            return described
        }

        /// Completes the machine's outer receive with what the peer has written (or `result`).
        @discardableResult
        func deliverOuter(_ result: Int32? = nil) -> [String] {
            guard let (p, n) = outerReceive else { return [] }
            outerReceive = nil
            if let result { return on(.received(.outer, result: result)) }
            let count = min(n, peer.outbound.readable)
            p.copyMemory(from: peer.outbound.readPointer, byteCount: count)
            peer.outbound.consume(count)
            return on(.received(.outer, result: Int32(count)))
        }

        /// Completes the machine's outer send (the peer receives it all, or `result`).
        @discardableResult
        func flushOuter(_ result: Int32? = nil) -> [String] {
            guard let (p, n) = outerSend else { return [] }
            outerSend = nil
            if let result { return on(.sent(.outer, result: result)) }
            _ = peer.inbound.append(p, count: n)
            return on(.sent(.outer, result: Int32(n)))
        }

        /// Completes the bridge send (the connection takes it all, or `result`).
        @discardableResult
        func takeBridge(_ result: Int32? = nil) -> [String] {
            guard let (p, n) = bridgeSend else { return [] }
            bridgeSend = nil
            if let result { return on(.sent(.bridge, result: result)) }
            toBridge += Array(UnsafeRawBufferPointer(start: p, count: n))
            return on(.sent(.bridge, result: Int32(n)))
        }

        /// The connection writes `bytes` into the bridge (or ends it: empty).
        @discardableResult
        func fromBridge(_ bytes: [UInt8]) -> [String] {
            guard let (p, _) = bridgeReceive else { return [] }
            bridgeReceive = nil
            p.copyMemory(from: bytes, byteCount: bytes.count)
            return on(.received(.bridge, result: Int32(bytes.count)))
        }

        /// Moves bytes both ways until nothing moves (the peer handshaking too).
        func shuttle() {
            for _ in 0..<50 {
                if !peer.isHandshakeComplete { _ = peer.handshake() }
                let before = all.count
                let sending = outerSend != nil
                flushOuter()
                if peer.outbound.readable > 0 { deliverOuter() }
                takeBridge()
                if all.count == before && !sending { break }
            }
        }

        /// Plaintext the peer reads from the session.
        func peerReads() -> [UInt8] {
            var out: [UInt8] = []
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 1)
            defer { buffer.deallocate() }
            while case .data(let n) = peer.read(into: buffer, max: 16 << 10) {
                out += Array(UnsafeRawBufferPointer(start: buffer, count: n))
            }
            return out
        }

        /// Starts a listener session and completes the handshake: the machine then relays.
        func established() {
            on(.start)
            _ = peer.handshake()
            shuttle()
            if case .openingBridge = state { on(.bridgeOpened(OuterBuffers(up: up, down: down))) }
            shuttle()
        }

        var relay: OuterRelay? {
            switch state {
            case .relay(let r), .alerting(let r, _): r
            default: nil
            }
        }
    }

    // MARK: Handshake

    @Test func theHandshakeOpensTheBridgeAndRelays() throws {
        let r = try Run()
        #expect(r.on(.start) == ["deadline +15s", "receive outer"])
        _ = r.peer.handshake()
        r.shuttle()
        guard case .openingBridge = r.state else { Issue.record("not opening the bridge: \(r.state)"); return }
        #expect(r.all.contains("deadline none"))
        #expect(r.all.last?.hasPrefix("open bridge TLSv1.3 userspace -") == true)
        #expect(r.on(.bridgeOpened(OuterBuffers(up: r.up, down: r.down))) == ["records openssl", "receive outer", "receive bridge"])
        // Client -> bridge.
        let request = Array("CONNECT x:1 HTTP/1.1\r\n\r\n".utf8)
        _ = r.peer.write(request, count: request.count)
        r.shuttle()
        #expect(String(decoding: r.toBridge, as: UTF8.self) == "CONNECT x:1 HTTP/1.1\r\n\r\n")
        // Bridge -> client.
        #expect(r.fromBridge(Array("HTTP/1.1 200 OK\r\n\r\n".utf8)) == ["send outer", "receive bridge"])
        r.shuttle()
        #expect(String(decoding: r.peerReads(), as: UTF8.self) == "HTTP/1.1 200 OK\r\n\r\n")
        #expect(r.relay?.down.bytes ?? 0 > 0 && r.relay?.up.bytes == UInt64(request.count))
    }

    @Test func withKernelTLSTheSessionIsInstalledThenRecordsAreReceived() throws {
        let r = try Run(Run.settings(kernelTLS: true))
        r.on(.start)
        _ = r.peer.handshake()
        r.shuttle()
        guard case .installingKernelTLS = r.state else { Issue.record("no kTLS install: \(r.state)"); return }
        #expect(r.all.last == "install kTLS")
        #expect(r.on(.kernelTLSInstalled(error: nil)) == ["open bridge TLSv1.3 ktls -"])
        #expect(r.on(.bridgeOpened(OuterBuffers(up: r.up, down: r.down))) == ["receive record", "receive bridge"])
        // A data record: its plaintext goes to the bridge.
        r.record.copyMemory(from: [1, 2, 3], byteCount: 3)
        #expect(r.on(.receivedRecord(result: 3, type: 23, body: r.record)) == ["send bridge 3"])
        #expect(r.takeBridge(3) == ["receive record"])
        // Bridge bytes go out as is.
        #expect(r.fromBridge([9, 9]) == ["send outer"])
        #expect(r.flushOuter(2) == ["receive bridge"])
        // The connection vouched for its end: close_notify as a record, then the write side.
        r.on(.bridgeEndAuthenticated)
        #expect(r.fromBridge([]) == ["send record 21 [1, 0]"])
        #expect(r.on(.sent(.outer, result: 2)) == ["shut outer"])
        #expect(r.on(.shutDown(.outer)) == ["deadline +2s"])
        // The client's close_notify ends it.
        #expect(r.on(.receivedRecord(result: 2, type: 21, body: [UInt8(1), 0].withUnsafeBytes { r.record.copyMemory(from: $0.baseAddress!, byteCount: 2); return UnsafeRawPointer(r.record) })) == ["end close_notify", "shut bridge", "close ok: closed"])
    }

    @Test func aKernelThatRefusesTheInstallLeavesTheSessionInUserspaceWithANote() throws {
        let r = try Run(Run.settings(kernelTLS: true))
        r.on(.start)
        _ = r.peer.handshake()
        r.shuttle()
        #expect(r.on(.kernelTLSInstalled(error: "TCP_ULP tls: No such file")) == ["open bridge TLSv1.3 userspace front: TCP_ULP tls: No such file"])
    }

    @Test func plainHTTPIsAnsweredWith400ThenClosed() throws {
        let r = try Run()
        r.on(.start)
        let text = Array("GET / HTTP/1.1\r\n\r\n".utf8)
        guard let (p, _) = r.outerReceive else { Issue.record("no receive"); return }
        r.outerReceive = nil
        p.copyMemory(from: text, byteCount: text.count)
        #expect(r.on(.received(.outer, result: Int32(text.count))) == ["send outer"])
        guard let (bytes, n) = r.outerSend else { return }
        #expect(String(decoding: UnsafeRawBufferPointer(start: bytes, count: n), as: UTF8.self).hasPrefix("HTTP/1.1 400 "))
        #expect(r.flushOuter() == ["close not-tls: HTTPS listener: client spoke plain HTTP [-]"])
    }

    @Test func bytesThatAreNotTLSCloseAtOnce() throws {
        let r = try Run()
        r.on(.start)
        guard let (p, _) = r.outerReceive else { return }
        r.outerReceive = nil
        p.copyMemory(from: [0x01, 0x02, 0x03, 0x04, 0x05], byteCount: 5)
        let out = r.on(.received(.outer, result: 5))
        #expect(out.count == 1 && out[0].hasPrefix("close not-tls: HTTPS listener: client did not speak TLS ("))
    }

    @Test func aFailedHandshakeSendsOpenSSLsAlertThenCloses() throws {
        let r = try Run()
        r.on(.start)
        // A ClientHello offering nothing the server accepts: a TLS 1.0-only hello.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x01] + [UInt8](repeating: 7, count: 32)
            + [0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00]
        guard let (p, _) = r.outerReceive else { return }
        r.outerReceive = nil
        p.copyMemory(from: hello, byteCount: hello.count)
        #expect(r.on(.received(.outer, result: Int32(hello.count))) == ["send outer"])
        guard case .failing = r.state else { Issue.record("not failing: \(r.state)"); return }
        let out = r.flushOuter()
        #expect(out.count == 1 && out[0].hasPrefix("close handshake-failed: HTTPS listener: client handshake: "))
    }

    @Test("the client ends during the handshake", arguments: [
        (Int32(0), "client-gone: client closed during the HTTPS listener's TLS handshake"),
        (-ECONNRESET, "client-gone: client: Connection reset by peer"),
    ])
    func clientEndsDuringTheHandshake(result: Int32, want: String) throws {
        let r = try Run()
        r.on(.start)
        let out = r.deliverOuter(result)
        #expect(out.count == 1 && out[0].hasPrefix("close \(want)"))
        #expect(out.first?.hasSuffix("[-]") == true)
    }

    @Test func aRetriedReceiveIsSubmittedAgain() throws {
        let r = try Run()
        r.on(.start)
        #expect(r.deliverOuter(-EAGAIN) == ["receive outer"])
    }

    @Test func aListenerWithoutSetUpClosesWithItsOwnSummary() throws {
        let r = try Run(noListener: true)
        #expect(r.on(.start) == ["close error: no HTTPS listener set-up [-]"])
        #expect(r.on(.start) == [])
        #expect(r.on(.closeRequested(CloseReason(.shutdown, "x"))) == [])
    }

    @Test func theHandshakeTimesOutOrEndsWithTheGracePeriod() throws {
        let r = try Run()
        r.on(.start)
        #expect(r.on(.deadlinePassed(now: 1_015 * Run.second)) == ["close handshake-timeout: HTTPS listener: TLS handshake not complete within 15s [-]"])

        let s = try Run()
        s.on(.start)
        #expect(s.on(.shutdownRequested(graceDeadline: 1_005 * Run.second)) == ["deadline at 1005"])
        #expect(s.on(.deadlinePassed(now: 1_005 * Run.second)) == ["close shutdown: HTTPS listener: TLS handshake not complete when the grace period of 10s ended [-]"])

        // Accepted while shutting down: the grace period is known from the start.
        let t = try Run(Run.settings(graceDeadline: 1_001 * Run.second))
        t.on(.start)
        #expect(t.on(.deadlinePassed(now: 1_002 * Run.second)).first?.hasPrefix("close shutdown:") == true)
    }

    @Test func deadlinesAndShutdownOutsideTheHandshake() throws {
        let r = try Run()
        #expect(r.on(.deadlinePassed(now: 0)) == [])
        r.established()
        guard case .relay = r.state else { Issue.record("not relaying: \(r.state)"); return }
        #expect(r.on(.shutdownRequested(graceDeadline: 5)) == [])
        #expect(r.on(.deadlinePassed(now: 2_000 * Run.second)) == ["close ok: client (HTTPS listener) did not close within 2s of Veil's end"])
        #expect(r.on(.deadlinePassed(now: 2_001 * Run.second)) == [])
    }

    @Test func theBridgeThatCannotBeMadeClosesWithTheSummary() throws {
        let r = try Run()
        r.on(.start)
        _ = r.peer.handshake()
        r.shuttle()
        #expect(r.on(.bridgeFailed("socketpair: Too many open files")) == ["close error: HTTPS listener: socketpair: Too many open files [TLSv1.3]"])
    }

    // MARK: Ends

    @Test func theClientsCloseNotifyEndsTheBridgeThenAVouchedEndSendsCloseNotify() throws {
        let r = try Run()
        r.established()
        r.peer.close()
        r.shuttle()
        #expect(r.all.suffix(2) == ["end close_notify", "shut bridge"])
        r.on(.shutDown(.bridge))
        r.on(.bridgeEndAuthenticated)
        #expect(r.on(.bridgeEndAuthenticated) == [])
        #expect(r.fromBridge([]) == ["send outer"])
        _ = r.flushOuter()
        #expect(r.on(.shutDown(.outer)) == ["close ok: closed"])
        #expect(r.peer.read(into: r.record, max: 100) == .closed)
    }

    @Test func anUnvouchedEndFromTheBridgeIsABareFINAndTheClientGetsTwoSeconds() throws {
        let r = try Run(Run.settings(recordLayer: .openssl))
        r.established()
        #expect(r.fromBridge([]) == ["shut outer"])
        #expect(r.on(.shutDown(.outer)) == ["deadline +2s"])
        // No close_notify reached the client.
        #expect(r.peer.read(into: r.record, max: 100) != .closed)
        // Then the client's bare FIN: the bridge's write side is shut, and it is over.
        #expect(r.deliverOuter(0) == ["end fin", "shut bridge", "close ok: closed"])
    }

    @Test func aFINInsideARecordIsNotedAsSuch() throws {
        let r = try Run()
        r.established()
        _ = r.peer.write(Array("abc".utf8), count: 3)
        // Half a record arrives, then the FIN.
        guard let (p, _) = r.outerReceive else { return }
        r.outerReceive = nil
        let half = r.peer.outbound.readable / 2
        p.copyMemory(from: r.peer.outbound.readPointer, byteCount: half)
        r.on(.received(.outer, result: Int32(half)))
        #expect(r.deliverOuter(0) == ["end fin-mid-record", "shut bridge"])
    }

    @Test func halfClosedTheOtherWayRound() throws {
        let r = try Run()
        r.established()
        r.on(.bridgeEndAuthenticated)
        #expect(r.fromBridge([]) == ["send outer"])
        _ = r.flushOuter()
        #expect(r.all.last == "shut outer")
        #expect(r.on(.shutDown(.outer)) == ["deadline +2s"])
        _ = r.peer.write(Array("late".utf8), count: 4)
        r.shuttle()
        #expect(String(decoding: r.toBridge, as: UTF8.self) == "late")
        r.peer.close()
        r.shuttle()
        #expect(r.all.suffix(3) == ["end close_notify", "shut bridge", "close ok: closed"])
    }

    @Test("the peer's socket fails", arguments: [
        (OuterPeer.listenerClient, -ECONNRESET, "end reset", "close client-gone: client: Connection reset by peer"),
        (OuterPeer.relay(address: "127.0.0.1:9"), -ECONNRESET, "end reset", "close relay-failed: relay 127.0.0.1:9: Connection reset by peer"),
        (OuterPeer.listenerClient, -EIO, "end error", "close client-gone: client: Input/output error"),
    ])
    func thePeersSocketFails(peer: OuterPeer, result: Int32, end: String, close: String) throws {
        let r = try Run(Run.settings(peer))
        r.established()
        let out = r.deliverOuter(result)
        #expect(out.count == 2 && out[0] == end && out[1].hasPrefix(close))
    }

    @Test func bothPeersGone() throws {
        let r = try Run(Run.settings(recordLayer: .openssl))
        r.established()
        // The connection is gone: its end of the bridge ends (unvouched), then a send into it fails.
        #expect(r.fromBridge([]) == ["shut outer"])
        #expect(r.on(.shutDown(.outer)) == ["deadline +2s"])
        _ = r.peer.write([UInt8(1)], count: 1)
        #expect(r.deliverOuter() == ["send bridge 1"])
        #expect(r.takeBridge(-EPIPE) == ["close ok: closed"])
        #expect(r.closeReason == "ok: closed")
        r.machine.release()
        guard case .closed(_, nil) = r.state else { Issue.record("engine kept"); return }
    }

    @Test func aSendToTheClientThatFailsEndsTheSession() throws {
        let r = try Run()
        r.established()
        #expect(r.fromBridge([1]) == ["send outer", "receive bridge"])
        #expect(r.flushOuter(-EPIPE) == ["close client-gone: client: Broken pipe"])
    }

    @Test func aRelayTunnelStartsRelayingAndFailsAsRelayFailed() throws {
        let r = try Run(tunnel: Run.settings(.relay(address: "127.0.0.1:9")))
        #expect(r.on(.start) == ["records openssl", "tunnel userspace -", "receive outer", "receive bridge"])
        _ = r.peer.write([UInt8(1)], count: 1)
        r.shuttle()
        #expect(r.toBridge == [1])
        // The relay sends an alert.
        r.peer.endWithoutCloseNotify()
        let out = r.deliverOuter(-ECONNRESET)
        #expect(out == ["end reset", "close relay-failed: relay 127.0.0.1:9: Connection reset by peer"])
    }

    @Test func aTunnelWithPendingBytesPassesThemOnFirst() throws {
        let r = try Run(tunnel: Run.settings(.relay(address: "r:1"), kernelTLS: true), pending: [7, 8, 9])
        #expect(r.on(.start) == ["records openssl", "tunnel userspace -", "send bridge 3", "receive bridge"])
    }

    @Test func aTunnelMovesOntoKernelTLSWhenNothingIsInsideOpenSSL() throws {
        let r = try Run(tunnel: Run.settings(.relay(address: "r:1"), kernelTLS: true))
        #expect(r.on(.start) == ["install kTLS"])
        #expect(r.on(.kernelTLSInstalled(error: nil)) == ["tunnel ktls -", "receive record", "receive bridge"])
        // kTLS: what the kernel refuses or cannot follow.
        for (type, body, result, want) in [
            (UInt8(21), [UInt8(2), 40], Int32(2), "close relay-failed: relay r:1 sent alert handshake_failure"),
            (UInt8(22), [UInt8(24), 0, 0, 1, 0], Int32(5), "close error: relay r:1 sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS, so the connection ends"),
            (UInt8(22), [UInt8(4), 0, 0, 0], Int32(4), "close relay-failed: relay r:1 sent an unexpected record after the handshake"),
            (UInt8(20), [UInt8(1)], Int32(1), "close relay-failed: relay r:1 sent a"),
            (UInt8(0), [], Int32(-EKEYEXPIRED), "close error: relay r:1 sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented"),
            (UInt8(0), [], Int32(0), "end fin"),
        ] {
            let t = try Run(tunnel: Run.settings(.relay(address: "r:1"), kernelTLS: true))
            t.on(.start)
            t.on(.kernelTLSInstalled(error: nil))
            if !body.isEmpty { t.record.copyMemory(from: body, byteCount: body.count) }
            let out = t.on(.receivedRecord(result: result, type: type, body: t.record))
            #expect(out.contains { $0.hasPrefix(want) }, "\(type) \(body): \(out)")
        }
    }

    @Test func aTunnelWithBytesInsideOpenSSLStaysInUserspace() throws {
        let r = try Run(tunnel: Run.settings(.relay(address: "r:1"), kernelTLS: true), leftover: [0x17, 0x03, 0x03])
        #expect(r.on(.start).prefix(2) == ["records openssl", "tunnel userspace tunnel: data after the relay's answer was already inside OpenSSL"])
    }

    // MARK: Veil's record layer

    /// Moves 64 KiB each way so that Veil's record layer takes over.
    func takeOver(_ r: Run) {
        let chunk = [UInt8](repeating: 0x61, count: 16 << 10)
        for _ in 0..<5 {
            _ = r.peer.write(chunk, count: chunk.count)
            r.shuttle()
        }
    }

    @Test func veilsRecordLayerTakesOverAfter64KiBAndRelays() throws {
        let r = try Run()
        r.established()
        takeOver(r)
        #expect(r.all.contains("records veil"))
        guard case .veil = r.relay?.records else { Issue.record("no takeover"); return }
        #expect(r.toBridge.count == 5 * (16 << 10))
        // Both ways on Veil's records.
        _ = r.peer.write(Array("up".utf8), count: 2)
        r.shuttle()
        #expect(r.toBridge.suffix(2) == Array("up".utf8))
        r.fromBridge(Array("down".utf8))
        r.shuttle()
        #expect(r.peerReads() == Array("down".utf8))
        // The client's close_notify, then the vouched end: close_notify sealed by Veil.
        r.peer.close()
        r.shuttle()
        #expect(r.all.suffix(2) == ["end close_notify", "shut bridge"])
        r.on(.bridgeEndAuthenticated)
        r.fromBridge([])
        r.shuttle()
        #expect(r.all.last == "shut outer")
        #expect(r.peer.read(into: r.record, max: 10) == .closed)
        #expect(r.on(.shutDown(.outer)) == ["close ok: closed"])
    }

    @Test func withOpenSSLRecordsThereIsNoTakeover() throws {
        let r = try Run(Run.settings(recordLayer: .openssl))
        r.established()
        takeOver(r)
        #expect(!r.all.contains("records veil"))
    }

    @Test func aRecordThatDoesNotAuthenticateGetsAFatalAlertThenCloses() throws {
        let r = try Run()
        r.established()
        takeOver(r)
        guard case .veil = r.relay?.records, let (p, _) = r.outerReceive else { Issue.record("no takeover"); return }
        r.outerReceive = nil
        let bad: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x55, count: 32)
        p.copyMemory(from: bad, byteCount: bad.count)
        let out = r.on(.received(.outer, result: Int32(bad.count)))
        #expect(out.prefix(3) == ["end bad-record", "deadline +1s", "end connection client-gone"])
        guard case .alerting(_, let reason) = r.state else { Issue.record("not alerting: \(r.state)"); return }
        #expect(reason.reason.hasSuffix("(sent alert fatal bad_record_mac)"))
        // Late completions while the alert goes out change nothing.
        #expect(r.deliverOuter(-ECANCELED) == [])
        #expect(r.takeBridge(-ECANCELED) == [])
        #expect(r.on(.received(.bridge, result: 0)) == [])
        #expect(r.on(.receivedRecord(result: 0, type: 0, body: r.record)) == [])
        #expect(r.on(.shutDown(.outer)) == [])
        let closed = r.flushOuter()
        #expect(closed.count == 1 && closed[0].hasPrefix("close client-gone: client (HTTPS listener): "))
    }

    @Test func anAlertThatIsNotSentInTimeClosesAnyway() throws {
        let r = try Run()
        r.established()
        takeOver(r)
        guard let (p, _) = r.outerReceive else { return }
        r.outerReceive = nil
        let bad: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x55, count: 32)
        p.copyMemory(from: bad, byteCount: bad.count)
        r.on(.received(.outer, result: Int32(bad.count)))
        let out = r.on(.deadlinePassed(now: 5_000 * Run.second))
        #expect(out.count == 1 && out[0].hasSuffix("(sent alert fatal bad_record_mac)"))
    }

    @Test func anOpenSSLReadFailureEndsTheSession() throws {
        let r = try Run(Run.settings(recordLayer: .openssl))
        r.established()
        guard let (p, _) = r.outerReceive else { return }
        r.outerReceive = nil
        let bad: [UInt8] = [0x17, 0x03, 0x03, 0x00, 0x20] + [UInt8](repeating: 0x55, count: 32)
        p.copyMemory(from: bad, byteCount: bad.count)
        let out = r.on(.received(.outer, result: Int32(bad.count)))
        #expect(out.contains("end bad-record"))
        #expect(out.contains { $0.hasPrefix("end connection client-gone") || $0.hasPrefix("close client-gone: client (HTTPS listener): ") })
    }

    // MARK: Failures as reasons

    @Test func everyFailureHasItsReason() {
        let peer = OuterPeer.relay(address: "r:1")
        let cases: [(OuterSessionFailure, String)] = [
            (.setUp("x"), "error: HTTPS listener TLS set-up: x"),
            (.handshakeRecordTooLarge, "handshake-failed: HTTPS listener: handshake record too large"),
            (.malformedAlert, "relay-failed: relay r:1 sent a malformed alert"),
            (.keyUpdateAnswer, "error: cannot answer the relay r:1's KeyUpdate"),
            (.unexpectedRecordType(20), "relay-failed: relay r:1 sent a record of type 20 after the handshake"),
            (.opensslRead("bad"), "relay-failed: relay r:1: bad"),
            (.outOfMemory, "error: out of memory"),
            (.requested(CloseReason(.shutdown, "closed at shutdown")), "shutdown: closed at shutdown"),
            (.unexpectedKernelRecordKind("x"), "relay-failed: relay r:1 sent a x after the handshake"),
        ]
        for (failure, want) in cases {
            let r = failure.closeReason(peer: peer)
            #expect("\(r.kind.rawValue): \(r.reason)" == want)
        }
        #expect(peer.isTunnel && !OuterPeer.listenerClient.isTunnel)
    }

    @Test func outOfMemoryAndACloseRequestEndTheSession() throws {
        let r = try Run()
        r.established()
        #expect(r.on(.outOfMemory) == ["close error: out of memory"])
        let s = try Run()
        s.established()
        #expect(s.on(.closeRequested(CloseReason(.shutdown, "closed at shutdown"))) == ["close shutdown: closed at shutdown"])
    }
}
