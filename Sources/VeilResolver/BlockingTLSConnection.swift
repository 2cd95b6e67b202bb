import VeilWire
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// A TLS client connection with blocking calls bounded by one deadline, for the resolvers'
/// background queue (never a ring thread): connect, verified handshake, write, read.
final class BlockingTLSConnection {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    private let fd: Int32
    private let engine: TLSEngine
    private let deadline: UInt64
    private let peer: String

    /// Connects to `address` and completes a handshake verified against `verifyName` (an IP
    /// address or a host name; SNI is sent only for names). With `pinnedSHA256` (the Veil
    /// relay; `context` must not verify chains) no SNI is sent and the certificate must have
    /// that SHA-256 fingerprint instead, checked before the caller can send anything.
    init(address: SocketAddress, verifyName: String, alpn: [String], context: TLSContext,
         timeout: Double, pinnedSHA256: RelayFingerprint? = nil) throws(Failure) {
        deadline = MonotonicClock.now() + timeout.nanoseconds
        peer = address.description
        let s: Int32
        do { s = try Socket.makeTCP(family: address.family, nonBlocking: true) } catch { throw Failure("\(error)") }
        fd = s
        do {
            engine = try TLSEngine(context: context, role: .client, inboundCapacity: 64 << 10, outboundCapacity: 32 << 10)
            let isIP = SocketAddress(ip: verifyName, port: 0) != nil
            if pinnedSHA256 == nil { try engine.configureClient(serverName: isIP ? nil : verifyName, verifyName: verifyName, alpn: alpn, session: nil) }
        } catch {
            Socket.close(s)
            throw Failure("TLS set-up: \(error)")
        }
        Socket.setNoDelay(s)
        do throws(Failure) {
            try connect(address)
            try handshake()
            if let pin = pinnedSHA256 {
                guard let got = engine.peerCertificateSHA256 else { throw Failure("\(peer) presented no certificate") }
                guard pin.matches(got) else {
                    throw Failure("certificate fingerprint mismatch at \(peer) (got \(RelayFingerprint.format(got)), pinned \(pin))")
                }
            }
        } catch {
            Socket.close(s)
            throw error
        }
    }

    deinit { Socket.close(fd) }

    /// The ALPN protocol the server chose.
    var alpn: String? { engine.alpn }

    private func remaining() throws(Failure) -> Int32 {
        let now = MonotonicClock.now()
        guard now < deadline else { throw Failure("timed out") }
        return Int32(min((deadline - now) / 1_000_000 + 1, UInt64(Int32.max)))
    }

    private func wait(_ readiness: Readiness) throws(Failure) {
        while true {
            let timeout = try remaining()
            let ready: Bool
            do { ready = try Socket.wait(fd, for: readiness, timeoutMillis: timeout) } catch { throw Failure("\(error)") }
            if ready { return }
        }
    }

    private func connect(_ address: SocketAddress) throws(Failure) {
        do {
            if try Socket.startConnect(fd, to: address) { return }
        } catch {
            throw Failure("connect \(peer): \(SystemError.message(of: error.code))")
        }
        do { try wait(.writable) } catch { throw Failure("connect \(peer): \(error)") }
        let err = Socket.pendingError(fd)
        guard err == 0 else { throw Failure("connect \(peer): \(SystemError.message(of: err))") }
    }

    private func flush() throws(Failure) {
        let out = engine.outbound
        while out.readable > 0 {
            let n = Socket.send(fd, out.readPointer, count: out.readable)
            if n > 0 { out.consume(n); continue }
            if n == -Int(EAGAIN) || n == -Int(EINTR) { try wait(.writable); continue }
            throw Failure("send to \(peer): \(SystemError.message(of: Int32(-n)))")
        }
    }

    /// Reads more bytes from the socket into the engine; false at EOF.
    private func fill() throws(Failure) -> Bool {
        let input = engine.inbound
        while true {
            let target = input.writePointer
            guard input.contiguousWritable > 0 else { throw Failure("response larger than \(input.capacity) bytes") }
            // Answer every segment at once: a server that writes its reply in two segments
            // (length, then message) would otherwise wait out our delayed ACK (40 ms).
            Socket.setQuickAck(fd)
            let n = Socket.receive(fd, into: target, count: input.contiguousWritable)
            if n > 0 { input.didWrite(n); return true }
            if n == 0 { return false }
            if n == -Int(EAGAIN) || n == -Int(EINTR) { try wait(.readable); continue }
            throw Failure("recv from \(peer): \(SystemError.message(of: Int32(-n)))")
        }
    }

    private func handshake() throws(Failure) {
        while true {
            switch engine.handshake() {
            case .complete:
                try flush()
                return
            case .needsInput:
                try flush()
                do {
                    guard try fill() else { throw Failure("\(peer) closed during the TLS handshake") }
                } catch {
                    throw Failure("TLS handshake with \(peer): \(error)")
                }
            case .failed(let reason):
                throw Failure("TLS handshake with \(peer): \(reason)")
            }
        }
    }

    func write(_ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let w = bytes.withUnsafeBytes { raw in raw.baseAddress.map { engine.write($0 + offset, count: raw.count - offset) } ?? 0 }
            if w == 0 { try flush(); continue }
            offset += w
        }
        try flush()
    }

    /// Decrypted bytes as they arrive (at least one), or [] at the end of the stream.
    func read() throws(Failure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let r = buffer.withUnsafeMutableBytes { raw in
                raw.baseAddress.map { engine.read(into: $0, max: raw.count) } ?? .failed("no buffer")
            }
            switch r {
            case .data(let n):
                return Array(buffer[0..<n])
            case .closed:
                return []
            case .failed(let reason):
                throw Failure("TLS read from \(peer): \(reason)")
            case .needsInput:
                try flush()  // e.g. a KeyUpdate answer
                guard try fill() else { return [] }
            }
        }
    }
}
