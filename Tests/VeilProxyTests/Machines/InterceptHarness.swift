import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// An intercepted connection's handshakes alone: the machine's two legs, a real OpenSSL client
/// (the browser) and a real OpenSSL server (the origin), the "sockets" being this harness moving
/// bytes between the machine's engine buffers and theirs as the machine asks.
final class InterceptHarness {
    typealias M = InterceptMachine
    static let second: UInt64 = 1_000_000_000

    /// A test CA, its minter, the contexts of the machine's legs and of the two peers.
    struct Fixture: Sendable {
        let minter: CertificateMinter
        let clientFacing: TLSContext
        let upstream: TLSContext
        let browser: TLSContext
        let origin: TLSContext
    }

    static let fixture: Result<Fixture, any Error> = Result {
        var template = Array("/tmp/veil-intercept-XXXXXX".utf8CString)
        let dir = template.withUnsafeMutableBufferPointer { b in b.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) } } ?? "/tmp"
        let ca = try CertificateAuthority.loadOrCreate(home: dir + "/home")
        let minter = try CertificateMinter(authority: ca)
        var options = TLSContext.UpstreamOptions()
        options.extraTrustFile = ca.certificatePath
        let upstream = try TLSContext.upstream(options)
        try upstream.enableECHExtension()  // as Interception does (engines without ECH data send none)
        let browser = try TLSContext.upstream(options)
        try browser.enableECHExtension()  // a browser that sends ECH (GREASE) to Veil
        return Fixture(minter: minter, clientFacing: try TLSContext.clientFacing(), upstream: upstream,
                       browser: browser, origin: try TLSContext.clientFacing())
    }

    var machine: M
    let client: TLSLeg
    var upstream: TLSLeg
    /// The browser (client role) and the origin (server role).
    let browser: TLSEngine
    var origin: TLSEngine
    let sessions: SessionCache
    /// Operations the machine asked for and that have not completed.
    var receiving: [TransferSide: Int] = [:]
    var sending: Set<TransferSide> = []
    var certificateAsked: String?
    var refusal: TLSAlert?
    var deadline: UInt64 = 0
    var closed: CloseReason?
    /// Hosts whose cached ECH config the machine asked to drop.
    var forgotten: [String] = []
    /// Upstream reconnects the machine asked for (after an ECH rejection).
    var retries: [String] = []
    /// Where the legs went: "relay", "mixed client|upstream", "splice".
    var handover: String?
    var handedOver: Bool { handover != nil }
    /// How the harness answers `installKernelTLS` per side (nil: installed).
    var installErrors: [TransferSide: String] = [:]
    var installed: [TransferSide] = []
    var cancelled: [TransferSide] = []
    /// Upstream bytes are held back during the kTLS switch (the origin is slow).
    var holdUpstream = false
    var notes: [InterceptNote] = []
    var logged: [String] = []
    var now: UInt64 = 1_000 * second

    static func settings(target: String = "site.test:443", kernelTLS: Bool = false, ktls: KTLSMode = .auto,
                         viaListener: Bool = false, clientIsTCP: Bool = true, upstreamIsTCP: Bool = true,
                         logRecords: Bool = false, allowSNIMismatch: Bool = false, sniPolicy: SNIPolicy = .real,
                         sessions: SessionCache = SessionCache(), ech: UpstreamECH = .off) throws -> M.Settings {
        M.Settings(target: try HostPort(parsing: target), handshakeTimeout: 15, allowSNIMismatch: allowSNIMismatch,
                   sniPolicy: sniPolicy, ktls: ktls, kernelTLSAvailable: kernelTLS, viaListener: viaListener,
                   clientIsTCP: clientIsTCP, upstreamIsTCP: upstreamIsTCP, logRecords: logRecords, sessions: sessions,
                   minter: try fixture.get().minter, ech: ech)
    }

    /// The receive in flight on each side, and whether it is MSG_DONTWAIT.
    var dontWait: [TransferSide: Bool] = [:]

    /// `sni`: what the browser sends; `originName`: the name on the origin's certificate.
    init(_ settings: M.Settings? = nil, sni: String? = "site.test", verifyName: String = "site.test",
         originName: String = "site.test", alpn: [String] = ["h2", "http/1.1"], inbound: Int = 128 << 10,
         browserContext: TLSContext? = nil) throws {
        let f = try InterceptHarness.fixture.get()
        let s = try settings ?? InterceptHarness.settings()
        sessions = s.sessions
        let c = try TLSEngine(context: f.clientFacing, role: .server, inboundCapacity: inbound, outboundCapacity: 128 << 10)
        let u = try TLSEngine(context: f.upstream, role: .client, inboundCapacity: 128 << 10, outboundCapacity: 128 << 10)
        client = TLSLeg(.client, engine: c, logAll: s.logRecords)
        upstream = TLSLeg(.upstream, engine: u, logAll: s.logRecords)
        browser = try TLSEngine(context: browserContext ?? f.browser, role: .client)
        try browser.configureClient(serverName: sni, verifyName: verifyName, alpn: alpn, session: nil)
        origin = try TLSEngine(context: f.origin, role: .server)
        try origin.configureServer(certificate: try f.minter.certificate(for: originName), minter: f.minter, alpn: nil)
        machine = M(settings: s, client: client, upstream: upstream)
    }

    func leg(_ side: TransferSide) -> TLSLeg { side == .client ? client : upstream }
    func peer(_ side: TransferSide) -> TLSEngine { side == .client ? browser : origin }

    /// Feeds one event; returns the actions, described, and keeps what they ask for.
    @discardableResult
    func on(_ event: M.Event) -> [String] {
        var actions: [M.Action] = []
        machine.handle(event, &actions)
        var described: [String] = []
        for action in actions {
            switch action {
            case .receive(let side, let buffer, let max, let noWait):
                #expect(receiving[side] == nil, "a second receive on \(side.name)")
                #expect(buffer === leg(side).engine.inbound)
                receiving[side] = max
                dontWait[side] = noWait
                buffer.pinned = true
                described.append("receive \(side.name)")
            case .send(let side, let buffer):
                #expect(!sending.contains(side), "a second send on \(side.name)")
                #expect(buffer === leg(side).engine.outbound)
                sending.insert(side)
                buffer.pinned = true
                described.append("send \(side.name)")
            case .requestCertificate(let name):
                certificateAsked = name
                described.append("certificate \(name)")
            case .refuse(let alert):
                refusal = alert
                described.append("refuse \(alert)")
            case .setDeadline(let at):
                deadline = at
                described.append("deadline")
            case .logRecord(let direction, let summary):
                logged.append("\(direction.rawValue) \(summary.contentType)")
                described.append("log")
            case .note(let note):
                notes.append(note)
                described.append("note")
            case .cancelReceive(let side):
                cancelled.append(side)
                described.append("cancel \(side.name)")
            case .installKernelTLS(let side, _, _):
                described.append("install \(side.name)")
                let error = installErrors[side]
                if error == nil { installed.append(side) }
                described += on(.kernelTLSInstalled(side, error: error, now: now))
            case .startRelay(let c, let u):
                #expect(c === client && u === upstream)
                handover = "relay"
                described.append("relay")
            case .startMixedRelay(let kernel, let userspace):
                #expect(userspace === leg(kernel.other))
                handover = "mixed \(kernel.name)"
                described.append("mixed \(kernel.name)")
            case .startKernelSplice:
                handover = "splice"
                described.append("splice")
            case .retryUpstream(let host, let port):
                retries.append("\(host):\(port)")
                described.append("retry upstream")
            case .forgetECHConfig(let host, _):
                forgotten.append(host)
                described.append("forget ech \(host)")
            case .close(let reason):
                #expect(closed == nil, "closed twice")
                closed = reason
                described.append("close \(reason.kind.rawValue)")
            }
        }
        return described
    }

    func start(pipelined: [UInt8] = []) {
        pipelined.withUnsafeBytes { _ = on(.start(pipelined: $0, now: now)) }
    }

    /// The machine's send on `side` completes: its bytes reach that peer.
    func completeSend(_ side: TransferSide) {
        guard sending.remove(side) != nil else { return }
        let out = leg(side).engine.outbound
        let n = out.readable
        _ = peer(side).inbound.append(out.readPointer, count: n)
        on(.sent(side, result: Int32(n), now: now))
    }

    /// The machine's receive on `side` completes with what the peer has written (nothing: false;
    /// -EAGAIN for a MSG_DONTWAIT one).
    @discardableResult
    func completeReceive(_ side: TransferSide) -> Bool {
        guard let max = receiving[side], !(side == .upstream && holdUpstream && stateName == "kernelSwitch") else { return false }
        let from = peer(side).outbound
        guard from.readable > 0 else {
            guard dontWait[side] == true else { return false }
            receiving[side] = nil
            leg(side).engine.inbound.pinned = false
            on(.received(side, result: -EAGAIN, now: now))
            return true
        }
        receiving[side] = nil
        let input = leg(side).engine.inbound
        input.pinned = false
        let target = input.writePointer
        let n = min(from.readable, max, input.contiguousWritable)
        target.copyMemory(from: from.readPointer, byteCount: n)
        from.consume(n)
        input.pinned = true
        on(.received(side, result: Int32(n), now: now))
        return true
    }

    /// A receive on `side` completes with `result` (0: EOF, negative: an errno).
    func fail(_ side: TransferSide, receive result: Int32) {
        receiving[side] = nil
        on(.received(side, result: result, now: now))
    }

    /// Delivers the certificate asked for.
    func deliverCertificate() throws {
        guard let name = certificateAsked else { return }
        certificateAsked = nil
        on(.certificateMinted(try InterceptHarness.fixture.get().minter.certificate(for: name), now: now))
    }

    /// Runs the peers and the machine's operations until nothing moves (or it ends).
    func run(deliverCertificates: Bool = true, rounds: Int = 60) throws {
        for _ in 0..<rounds {
            if closed != nil || handedOver { return }
            var moved = false
            if !browser.isHandshakeComplete { _ = browser.handshake() }
            if !origin.isHandshakeComplete { _ = origin.handshake() }
            for side in [TransferSide.client, .upstream] {
                if sending.contains(side) { completeSend(side); moved = true }
                if completeReceive(side) { moved = true }
            }
            if deliverCertificates && certificateAsked != nil { try deliverCertificate(); moved = true }
            if !moved && browser.outbound.readable == 0 && origin.outbound.readable == 0 { return }
        }
    }

    var stateName: String {
        switch machine.state {
        case .idle: "idle"
        case .clientHello: "clientHello"
        case .upstreamHandshake: "upstreamHandshake"
        case .awaitingCertificate: "awaitingCertificate"
        case .clientHandshake: "clientHandshake"
        case .kernelSwitch: "kernelSwitch"
        case .refusing: "refusing"
        case .handedOver: "handedOver"
        case .closed: "closed"
        }
    }

    var closeLine: String? { closed.map { "\($0.kind.rawValue): \($0.reason)" } }

    var ends: [String] {
        notes.compactMap { if case .end(let side, let end) = $0 { return "\(side.name) \(end.token)" } else { return nil } }
    }
}
