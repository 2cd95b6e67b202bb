internal import COpenSSL

/// The "encrypted_client_hello" extension (0xfe0d) in the ClientHello OpenSSL writes. OpenSSL
/// 3.0 knows no ECH, so the extension is a custom one (SSL_CTX_add_custom_ext) whose data is
/// set per engine: the inner marker (`offerECHInner`, the ClientHelloInner that Veil wraps) or
/// a whole GREASE extension (`offerECHGrease`, sent as is). An engine without either sends none.
/// The same bytes go into a second ClientHello after a HelloRetryRequest (as RFC 9849 section
/// 5 and 6.2.1 want). The server's 0xfe0d in a HelloRetryRequest (the confirmation, checked by
/// `ECHClientHelloBuilder.check`) is accepted, and in EncryptedExtensions (retry_configs) it
/// must parse as an ECHConfigList (else decode_error, section 6.1.6 and 6.2.1); Veil does not
/// use retry_configs.
extension TLSContext {
    /// Registers the extension on this (upstream) context. Call once, before any engine is made.
    public func enableECHExtension() throws(OpenSSLError) {
        let context = UInt32(SSL_EXT_CLIENT_HELLO | SSL_EXT_TLS1_3_HELLO_RETRY_REQUEST | SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS
            | SSL_EXT_TLS1_3_ONLY)
        let ok = SSL_CTX_add_custom_ext(ctx, UInt32(TLSExtension.encryptedClientHello), context, { ssl, _, _, out, outLength, _, _, _, _ in
            guard let ssl, let out, let outLength, let box = ECHExtensionData.of(ssl) else { return 0 }
            guard let copy = malloc(max(1, box.bytes.count)) else { return -1 }
            box.bytes.withUnsafeBytes { raw in
                if let base = raw.baseAddress { memcpy(copy, base, raw.count) }
            }
            out.pointee = UnsafePointer(copy.assumingMemoryBound(to: UInt8.self))
            outLength.pointee = box.bytes.count
            return 1
        }, { _, _, _, out, _ in
            free(UnsafeMutableRawPointer(mutating: out))
        }, nil, { _, _, context, data, length, _, _, alert, _ in
            guard context & UInt32(SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) != 0 else { return 1 }
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
            guard (try? ECHConfigList.parse(bytes)) != nil else {
                alert?.pointee = SSL_AD_DECODE_ERROR
                return 0
            }
            return 1
        }, nil)
        guard ok == 1 else { throw OpenSSLError.drain("SSL_CTX_add_custom_ext encrypted_client_hello") }
        X25519BaseMultiplier.prepare()  // the GREASE keys' table, now rather than on a connection
    }
}

extension TLSEngine {
    /// This engine writes a ClientHelloInner: the inner marker (ECHClientHelloType inner) in
    /// its ClientHello, and TLS 1.3 only (RFC 9849 section 6.1 rule 1). Its context must have
    /// `enableECHExtension()`; Veil wraps what it writes with `ECHClientHelloBuilder`.
    public func offerECHInner() throws(OpenSSLError) {
        guard SSL_ctrl(ssl, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_3_VERSION), nil) == 1 else {
            throw OpenSSLError.drain("TLS 1.3 minimum for ECH")
        }
        ECHExtensionData.set(ECHClientHelloExtension.inner.encoded, on: ssl)
    }

    /// This engine's ClientHello carries `extensionData` (a GREASE ECH extension, `ECHGrease`).
    public func offerECHGrease(_ extensionData: [UInt8]) {
        ECHExtensionData.set(extensionData, on: ssl)
    }
}

/// The extension data of one SSL, kept in its ex_data (released when the SSL is freed).
final class ECHExtensionData {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let exIndex: Int32 = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL, 0, nil, nil, nil, { _, pointer, _, _, _, _ in
        if let pointer { Unmanaged<ECHExtensionData>.fromOpaque(pointer).release() }
    })

    static func set(_ bytes: [UInt8], on ssl: OpaquePointer) {
        if let old = SSL_get_ex_data(ssl, exIndex) { Unmanaged<ECHExtensionData>.fromOpaque(old).release() }
        SSL_set_ex_data(ssl, exIndex, Unmanaged.passRetained(ECHExtensionData(bytes)).toOpaque())
    }

    static func of(_ ssl: OpaquePointer) -> ECHExtensionData? {
        guard let pointer = SSL_get_ex_data(ssl, exIndex) else { return nil }
        return Unmanaged<ECHExtensionData>.fromOpaque(pointer).takeUnretainedValue()
    }
}

/// Why ECH stopped an upstream handshake.
public enum ECHFailure: Sendable, Equatable {
    /// The server did not accept ECH (the verdict's reason).
    case rejected(String)
    /// The ClientHello could not be wrapped, or the server's answer could not be checked.
    case error(String)
}

extension TLSEngine {
    /// The BIO write hook while ECH has no verdict: OpenSSL's bytes go through the filter
    /// (the ClientHelloInner becomes the ClientHelloOuter) and what it answers goes out. The
    /// record log (`onOutput`) sees the wire bytes (the outer hello); the kTLS record count
    /// counts OpenSSL's records. Returns the BIO's answer (1, or 0 and the handshake fails).
    func echOutbound(_ filter: ECHRecordFilter, _ bytes: UnsafeRawBufferPointer,
                     written: UnsafeMutablePointer<Int>?) -> Int32 {
        let wire: [UInt8]
        do {
            wire = try filter.outbound(Array(bytes))
        } catch {
            echFailure = .error(error.description)
            return 0
        }
        guard wire.count <= outbound.writable else {
            echFailure = .error("the ClientHelloOuter (\(wire.count) bytes) does not fit in the output buffer")
            return 0
        }
        if !wire.isEmpty {
            // ECH_SECRET and ECH_CONFIG, once, before the TLS secrets; only with a key log.
            if let lines = filter.builder.takeKeyLogLines(), let onKeyLog { lines.forEach(onKeyLog) }
            wire.withUnsafeBytes { raw in
                if let base = raw.baseAddress { _ = outbound.append(base, count: raw.count) }
                onOutput?(raw)
            }
        }
        writePending = false
        if countingRecords { countOut(bytes) }
        written?.pointee = bytes.count
        return 1
    }

    /// The BIO read hook while ECH has no verdict: the server's bytes are watched (OpenSSL
    /// gets them unchanged). False on a rejection or a broken answer: OpenSSL must not go on.
    func echInbound(_ filter: ECHRecordFilter, _ bytes: UnsafeRawBufferPointer) -> Bool {
        do {
            if case .rejected(let why) = try filter.inbound(Array(bytes)) {
                echFailure = .rejected(why)
                return false
            }
            return true
        } catch {
            echFailure = .error(error.description)
            return false
        }
    }

    /// ECH's verdict on this engine: accepted (nil before the ServerHello or without ECH).
    public var echAccepted: Bool { echFilter?.verdict == .accepted }
}
