internal import COpenSSL
internal import COpenSSLShims
import VeilRuntime

/// One TLS session driven without I/O: the caller puts received bytes into `inbound`, calls
/// `handshake()` / `read` / `write`, and sends whatever appears in `outbound`.
///
/// OpenSSL reads and writes through a custom BIO over these two buffers, so a received byte is
/// copied once (into OpenSSL's record buffer) and an encrypted record once (into `outbound`).
/// The BIO answers 0 to every ctrl it does not know, so OpenSSL never attempts kTLS on its own.
public final class TLSEngine {
    public enum Role: Sendable { case client, server }

    public enum Step: Equatable, Sendable {
        case needsInput
        case complete
        case failed(HandshakeFailure)
    }

    /// Why a handshake failed: the peer's certificate did not verify, or anything else OpenSSL
    /// refused. Its description is the text close reasons carry ("certificate: hostname
    /// mismatch", "handshake: ...").
    public enum HandshakeFailure: Error, Equatable, Sendable, CustomStringConvertible {
        /// Certificate verification failed (what X509 verification says, e.g. "hostname mismatch").
        case certificate(String)
        /// Any other failure (OpenSSL's error queue).
        case failed(String)

        public var description: String {
            switch self {
            case .certificate(let why): "certificate: " + why
            case .failed(let why): why
            }
        }
    }

    public enum ReadResult: Equatable, Sendable {
        case data(Int)
        case needsInput
        /// The peer sent close_notify.
        case closed
        case failed(String)
    }

    public let role: Role
    public let inbound: ByteBuffer
    public let outbound: ByteBuffer
    let ssl: OpaquePointer
    private var alpnChoice: [UInt8] = []
    private var alpnChoiceSet = false

    /// NSS key log lines (without newline) as OpenSSL derives secrets.
    public var onKeyLog: ((String) -> Void)?

    // Record accounting for the kTLS switch (see `kernelKeys()`): records OpenSSL wrote and
    // consumed, in total and since the last change_cipher_spec, and where the handshake ended.
    var countingRecords = true
    var outScanner = RecordScanner(collectBodies: false)
    var inScanner = RecordScanner(collectBodies: false)
    var recordsOut = 0
    var recordsIn = 0
    var recordsOutSinceCCS = 0
    var recordsInSinceCCS = 0
    var finalCallOutStart = 0
    var finalCallOutEnd = 0
    var finalCallInEnd = 0
    /// OpenSSL holds (part of) a record `outbound` had no room for: it writes that first.
    var writePending = false
    /// OpenSSL sent or received a TLS 1.3 KeyUpdate (see `watchKeyUpdates`).
    var keyUpdated = false
    /// TLS 1.3 application traffic secrets, from the key log callback (memory only).
    var clientTrafficSecret: [UInt8] = []
    var serverTrafficSecret: [UInt8] = []
    /// Every chunk OpenSSL writes into `outbound` (set only when records are being logged).
    public var onOutput: ((UnsafeRawBufferPointer) -> Void)?
    /// A new upstream session (TLS 1.3 NewSessionTicket, or TLS 1.2 session); return true to keep
    /// the reference (then the receiver owns it and must SSL_SESSION_free it).
    public var onNewSession: ((OpaquePointer) -> Bool)?
    /// ECH on this (upstream) engine: the filter between OpenSSL's records and the wire, used
    /// until its verdict (TLSEngine+ECH: `echOutbound`, `echInbound`); nil without ECH.
    public var echFilter: ECHRecordFilter?
    /// What stopped the handshake on ECH's side: a rejection, or a filter error (then
    /// `handshake()` fails; the caller reports this instead of OpenSSL's error).
    public internal(set) var echFailure: ECHFailure?

    public init(context: TLSContext, role: Role, inboundCapacity: Int = 64 << 10,
                outboundCapacity: Int = 128 << 10) throws(OpenSSLError) {
        guard let ssl = SSL_new(context.ctx) else { throw OpenSSLError.drain("SSL_new") }
        self.ssl = ssl
        self.role = role
        inbound = ByteBuffer(pageBackedCapacity: inboundCapacity)
        outbound = ByteBuffer(pageBackedCapacity: outboundCapacity)
        guard let method = TLSEngine.bioMethod, let bio = BIO_new(method) else {
            SSL_free(ssl)
            throw OpenSSLError.drain("BIO_new")
        }
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        // One BIO for both directions. With rbio == wbio SSL_set_bio takes the one reference
        // BIO_new gave us and adds the second itself (SSL_free drops both); an extra
        // BIO_up_ref here would leak the BIO, two per intercepted connection.
        SSL_set_bio(ssl, bio, bio)
        SSL_set_ex_data(ssl, TLSEngine.exIndex, Unmanaged.passUnretained(self).toOpaque())
        if role == .client { SSL_set_connect_state(ssl) } else { SSL_set_accept_state(ssl) }
    }

    deinit { SSL_free(ssl) }

    // MARK: Configuration

    /// Upstream (client role): what the ClientHello carries and what the certificate must name.
    /// `serverName == nil` omits the server_name extension; `verifyName` is always the real
    /// target, an IP literal or a DNS name. `session` (to resume) is consumed: its reference is
    /// released here.
    public func configureClient(serverName: String?, verifyName: String, alpn: [String],
                                session: OpaquePointer?) throws(OpenSSLError) {
        defer { if let session { SSL_SESSION_free(session) } }  // consumed on every path
        if let serverName, veil_SSL_set_tlsext_host_name(ssl, serverName) != 1 {
            throw OpenSSLError.drain("server name \(serverName)")
        }
        if SocketAddress(ip: verifyName, port: 0) != nil {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), verifyName) == 1 else {
                throw OpenSSLError.drain("verify IP \(verifyName)")
            }
        } else {
            guard SSL_set1_host(ssl, verifyName) == 1 else { throw OpenSSLError.drain("verify host \(verifyName)") }
        }
        if !alpn.isEmpty {
            var wire: [UInt8] = []
            for p in alpn where !p.isEmpty && p.utf8.count < 256 {
                wire.append(UInt8(p.utf8.count))
                wire.append(contentsOf: p.utf8)
            }
            guard SSL_set_alpn_protos(ssl, wire, UInt32(wire.count)) == 0 else { throw OpenSSLError.drain("ALPN") }
        }
        if let session { SSL_set_session(ssl, session) }  // takes its own reference
    }

    /// Client-facing (server role): the certificate to present and the one ALPN protocol to
    /// accept (what upstream chose; nil accepts none).
    public func configureServer(certificate: MintedCertificate, minter: CertificateMinter,
                                alpn: String?) throws(OpenSSLError) {
        // One call for both: SSL_use_certificate + SSL_use_PrivateKey would also copy the key's
        // parameters between the two (a provider export and import in OpenSSL 3.0).
        guard SSL_use_cert_and_key(ssl, certificate.x509ForHandshake, minter.leafKey.pkey, nil, 1) == 1 else {
            throw OpenSSLError.drain("use certificate and key")
        }
        alpnChoiceSet = true
        alpnChoice = alpn.map { Array($0.utf8) } ?? []
    }

    func setALPNChoice(_ choice: [UInt8]) {
        alpnChoiceSet = true
        alpnChoice = choice
    }

    // MARK: Driving

    public func handshake() -> Step {
        let outBefore = recordsOut
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            finalCallOutStart = outBefore
            finalCallOutEnd = recordsOut
            finalCallInEnd = recordsIn
            return .complete
        }
        switch SSL_get_error(ssl, rc) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .needsInput
        default:
            if let v = verifyFailure {
                ERR_clear_error()
                return .failed(.certificate(v))
            }
            return .failed(.failed(OpenSSLError.drain("handshake").description))
        }
    }

    public var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Whether `read` can produce anything: bytes wait in `inbound`, or OpenSSL holds records
    /// (read-ahead) or plaintext it has not handed out. When false, `read` would only answer
    /// `.needsInput`, after a trip through OpenSSL's record layer and error queue.
    @inline(__always)
    public var hasInput: Bool { !inbound.isEmpty || SSL_has_pending(ssl) == 1 }

    /// OpenSSL holds records (read-ahead) or plaintext it has not handed out.
    @inline(__always)
    public var holdsPlaintextOrRecords: Bool { SSL_has_pending(ssl) == 1 }

    /// Decrypts application data into `buffer`.
    @inline(__always)
    public func read(into buffer: UnsafeMutableRawPointer, max: Int) -> ReadResult {
        var n = 0
        if SSL_read_ex(ssl, buffer, max, &n) == 1 { return .data(n) }
        switch SSL_get_error(ssl, 0) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .needsInput
        case SSL_ERROR_ZERO_RETURN: return .closed
        default: return .failed(failureReason(context: "read"))
        }
    }

    /// Encrypts `count` bytes into `outbound`; returns how many were taken (0 when `outbound`
    /// has no room for another record: send some first).
    @inline(__always)
    public func write(_ bytes: UnsafeRawPointer, count: Int) -> Int {
        var n = 0
        if SSL_write_ex(ssl, bytes, count, &n) == 1 { return n }
        ERR_clear_error()
        return 0
    }

    /// The kernel or Veil's own record layer takes this session over: mark it shut down without
    /// writing anything, so that freeing the SSL does not mark its session "bad" (OpenSSL's
    /// ssl_clear_bad_session would make the cached TLS 1.3 ticket session unresumable).
    public func handOver() {
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN)
    }

    /// While the session is idle: gives back OpenSSL's record buffers (SSL_free_buffers, which
    /// keeps them when they hold part of a record; OpenSSL allocates them again when it next reads
    /// or writes) and the pages of `inbound` and `outbound` that hold no bytes. Not while OpenSSL
    /// holds records or plaintext at all: before 3.0.14 SSL_free_buffers freed a buffer that a
    /// partly read record still pointed into (CVE-2024-4741).
    public func releaseIdleMemory() {
        if SSL_has_pending(ssl) == 0 && SSL_free_buffers(ssl) != 1 { ERR_clear_error() }
        inbound.releasePages()
        outbound.releasePages()
    }

    /// Queues close_notify in `outbound`.
    public func close() {
        _ = SSL_shutdown(ssl)
        ERR_clear_error()
    }

    // MARK: What was negotiated

    public var version: String? { SSL_is_init_finished(ssl) == 1 ? String(cString: SSL_get_version(ssl)) : nil }
    public var versionCode: UInt16 { UInt16(truncatingIfNeeded: SSL_version(ssl)) }

    /// IANA cipher name, e.g. TLS_AES_128_GCM_SHA256.
    public var cipher: String? {
        guard let c = SSL_get_current_cipher(ssl) else { return nil }
        let id = UInt16(truncatingIfNeeded: SSL_CIPHER_get_protocol_id(c))
        return TLSNames.cipherSuite(id)
    }

    public var alpn: String? {
        var p: UnsafePointer<UInt8>? = nil
        var len: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &p, &len)
        guard let p, len > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: p, count: Int(len)), as: UTF8.self)
    }

    public var isResumed: Bool { SSL_session_reused(ssl) == 1 }

    /// Why certificate verification failed, if it did ("hostname mismatch", ...).
    public var verifyFailure: String? {
        let code = SSL_get_verify_result(ssl)
        guard code != X509_V_OK else { return nil }
        if code == X509_V_ERR_HOSTNAME_MISMATCH || code == X509_V_ERR_IP_ADDRESS_MISMATCH { return "hostname mismatch" }
        return String(cString: X509_verify_cert_error_string(code))
    }

    private func failureReason(context: String) -> String {
        if let v = verifyFailure { ERR_clear_error(); return "certificate: \(v)" }
        return OpenSSLError.drain(context).description
    }

    // MARK: Callbacks

    func newSession(_ session: OpaquePointer) -> Bool {
        onNewSession?(session) ?? false
    }

    func selectALPN(out: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, outLength: UnsafeMutablePointer<UInt8>?,
                    offered: UnsafePointer<UInt8>, offeredLength: UInt32) -> Int32 {
        guard alpnChoiceSet, !alpnChoice.isEmpty else { return SSL_TLSEXT_ERR_NOACK }
        var i = 0
        let total = Int(offeredLength)
        while i < total {
            let len = Int(offered[i])
            let start = i + 1
            guard start + len <= total else { break }
            if len == alpnChoice.count && (0..<len).allSatisfy({ offered[start + $0] == alpnChoice[$0] }) {
                out?.pointee = offered + start
                outLength?.pointee = UInt8(len)
                return SSL_TLSEXT_ERR_OK
            }
            i = start + len
        }
        return SSL_TLSEXT_ERR_NOACK
    }

    static func from(_ ssl: OpaquePointer) -> TLSEngine? {
        guard let p = SSL_get_ex_data(ssl, exIndex) else { return nil }
        return Unmanaged<TLSEngine>.fromOpaque(p).takeUnretainedValue()
    }

    static let exIndex: Int32 = veil_SSL_get_ex_new_index()

    // MARK: The BIO over `inbound` / `outbound`

    /// Nil only if OpenSSL could not allocate it; then no engine can be made (BIO_new fails).
    nonisolated(unsafe) static let bioMethod: OpaquePointer? = {
        guard let m = BIO_meth_new(veil_bio_type_veil, "veil-buffers") else { return nil }
        BIO_meth_set_write_ex(m) { bio, data, count, written in
            guard let owner = BIO_get_data(bio), let data else { return 0 }
            let engine = Unmanaged<TLSEngine>.fromOpaque(owner).takeUnretainedValue()
            veil_BIO_clear_retry_flags(bio)
            if let filter = engine.echFilter, filter.verdict == nil {
                return engine.echOutbound(filter, UnsafeRawBufferPointer(start: data, count: count), written: written)
            }
            let n = engine.outbound.append(data, count: count)
            engine.writePending = n < count
            if n == 0 {
                veil_BIO_set_retry_write(bio)
                return 0
            }
            engine.onOutput?(UnsafeRawBufferPointer(start: data, count: n))
            if engine.countingRecords { engine.countOut(UnsafeRawBufferPointer(start: data, count: n)) }
            written?.pointee = n
            return 1
        }
        BIO_meth_set_read_ex(m) { bio, data, count, readBytes in
            guard let owner = BIO_get_data(bio), let data else { return 0 }
            let engine = Unmanaged<TLSEngine>.fromOpaque(owner).takeUnretainedValue()
            veil_BIO_clear_retry_flags(bio)
            let n = engine.inbound.read(into: data, max: count)
            if n == 0 {
                veil_BIO_set_retry_read(bio)
                return 0
            }
            if let filter = engine.echFilter, filter.verdict == nil,
               !engine.echInbound(filter, UnsafeRawBufferPointer(start: data, count: n)) {
                return 0  // no retry flag: the handshake fails, `echFailure` says why
            }
            readBytes?.pointee = n
            if engine.countingRecords { engine.countIn(UnsafeRawBufferPointer(start: data, count: n)) }
            return 1
        }
        BIO_meth_set_ctrl(m) { _, cmd, _, _ in
            // Flush succeeds (the caller sends `outbound`); everything else, including the kTLS
            // ctrls, is "not supported".
            cmd == BIO_CTRL_FLUSH ? 1 : 0
        }
        return m
    }()
}
