/// Watches one TLS connection's records in both directions during the handshake: reassembles and
/// parses the plaintext handshake messages, learns the negotiated version, cipher suite and ALPN, and
/// tells when the handshake is complete. Memory is bounded by two `HandshakeReassembler`s.
///
/// Rules:
/// - The client's first record must be a handshake record starting a ClientHello; the server may not
///   speak before a ClientHello is complete.
/// - TLS 1.2 and earlier: after a side's change_cipher_spec its handshake and alert records are
///   encrypted (opaque); its first handshake record after that is its Finished, and the handshake is
///   complete once both sides have sent Finished (either order, so resumption works).
/// - TLS 1.3 (a non-HelloRetryRequest ServerHello selecting 0x0304): every server record after the
///   ServerHello is opaque except change_cipher_spec; the client's first application_data record after
///   the ServerHello is its Finished and completes the handshake. change_cipher_spec records sent for
///   middlebox compatibility are ignored. Records of type alert are plaintext by construction in
///   TLS 1.3 (encrypted alerts travel as application_data) and are parsed.
/// - HelloRetryRequest: the client then sends a second ClientHello in plaintext
///   (`secondClientHello`); `clientHello` keeps the first.
///
/// After `consume` throws, the tracker's state is unspecified; stop using it.
public struct TLSFlowTracker: Sendable {
    /// The peer that sent a record.
    public enum Side: Sendable, Hashable {
        case client, server
    }

    /// Per-direction state.
    private struct Peer: Sendable {
        var reassembler: HandshakeReassembler
        /// Records seen from this side.
        var records = 0
        /// TLS 1.2: sent change_cipher_spec, so later handshake/alert records are encrypted.
        /// TLS 1.3 server: sent ServerHello.
        var encrypted = false
        /// Sent its Finished message.
        var sentFinished = false
    }

    /// The first ClientHello.
    public private(set) var clientHello: ClientHello?
    /// The ClientHello sent in reply to a HelloRetryRequest.
    public private(set) var secondClientHello: ClientHello?
    /// The HelloRetryRequest, if the server sent one.
    public private(set) var helloRetryRequest: ServerHello?
    /// The (non-HelloRetryRequest) ServerHello.
    public private(set) var serverHello: ServerHello?
    /// The negotiated version (from the ServerHello's selectedVersion).
    public private(set) var version: UInt16?
    /// The negotiated cipher suite.
    public private(set) var cipherSuite: UInt16?
    /// The protocol selected by ALPN when visible (TLS 1.2); nil in TLS 1.3 where it is encrypted.
    public private(set) var alpn: String?
    /// True once both sides' Finished messages have been seen (see the type's rules).
    public private(set) var isHandshakeComplete = false

    private var client: Peer
    private var server: Peer

    /// - Parameter maxMessageLength: the largest handshake message accepted from either side.
    public init(maxMessageLength: Int = 131072) {
        client = Peer(reassembler: HandshakeReassembler(maxMessageLength: maxMessageLength))
        server = Peer(reassembler: HandshakeReassembler(maxMessageLength: maxMessageLength))
    }

    /// True when the ServerHello negotiated TLS 1.3.
    public var isTLS13: Bool { version == 0x0304 }

    /// True while a ClientHello the client must send is not complete yet: the first one, or
    /// after a HelloRetryRequest the second. A relay that must judge a ClientHello before
    /// forwarding it (its SNI) holds the client's records while this is true.
    public var awaitingClientHello: Bool {
        clientHello == nil || (helloRetryRequest != nil && secondClientHello == nil && serverHello == nil)
    }

    /// The complete ClientHellos so far, in order (the second one after a HelloRetryRequest).
    public var clientHellos: [ClientHello] {
        [clientHello, secondClientHello].compactMap { $0 }
    }

    /// Parses a whole record (5-byte header plus exactly `length` body bytes) and consumes it.
    public mutating func consume(record: some Collection<UInt8>, from side: Side) throws(TLSParseError) -> TLSRecordSummary {
        let header = try TLSRecordHeader(bytes: record)
        let bodyCount = record.count - TLSRecordHeader.size
        guard bodyCount >= header.length else { throw .truncated("record body") }
        guard bodyCount == header.length else { throw .malformed("record: \(bodyCount - header.length) bytes after the record") }
        return try consume(type: header.contentType, body: record.dropFirst(TLSRecordHeader.size), from: side)
    }

    /// Consumes one record body of the given type sent by `side`.
    public mutating func consume(type: TLSContentType, body: some Collection<UInt8>,
                                 from side: Side) throws(TLSParseError) -> TLSRecordSummary {
        let length = body.count
        guard length <= TLSRecordHeader.maxLength else { throw .recordTooLong(length) }
        if length == 0, type != .applicationData, type != .heartbeat { throw .emptyRecord(type) }
        switch side {
        case .client:
            if client.records == 0, type != .handshake || body.first != HandshakeType.clientHello.rawValue {
                throw .unexpectedMessage("expected ClientHello")
            }
            client.records += 1
        case .server:
            guard clientHello != nil else { throw .unexpectedMessage("server sent data before ClientHello") }
            server.records += 1
        }
        switch type {
        case .changeCipherSpec:
            return try changeCipherSpec(body, from: side)
        case .handshake:
            return try handshake(body, from: side)
        case .alert:
            if !isTLS13 && peer(side).encrypted {
                return TLSRecordSummary(contentType: .alert, length: length, isOpaque: true)
            }
            let alert = try TLSAlert(body: body)
            return TLSRecordSummary(contentType: .alert, length: length, messages: [alert.summary], alert: alert)
        case .applicationData:
            if side == .client, isTLS13, !isHandshakeComplete {
                client.sentFinished = true
                isHandshakeComplete = true
            }
            return TLSRecordSummary(contentType: .applicationData, length: length, isOpaque: true)
        case .heartbeat:
            return TLSRecordSummary(contentType: .heartbeat, length: length, isOpaque: true)
        }
    }

    private func peer(_ side: Side) -> Peer {
        side == .client ? client : server
    }

    private mutating func changeCipherSpec(_ body: some Collection<UInt8>, from side: Side) throws(TLSParseError) -> TLSRecordSummary {
        let summary = TLSRecordSummary(contentType: .changeCipherSpec, length: body.count)
        if !isTLS13 && peer(side).encrypted {
            return TLSRecordSummary(contentType: .changeCipherSpec, length: body.count, isOpaque: true)
        }
        guard body.count == 1, body.first == 1 else {
            throw .malformed("change_cipher_spec: body must be the single byte 0x01")
        }
        if serverHello == nil {
            // Only TLS 1.3 middlebox-compatibility records can come this early.
            if side == .server && helloRetryRequest == nil {
                throw .unexpectedMessage("change_cipher_spec before ServerHello")
            }
            return summary
        }
        if isTLS13 { return summary }
        guard peer(side).reassembler.isEmpty else {
            throw .unexpectedMessage("change_cipher_spec inside a handshake message")
        }
        switch side {
        case .client: client.encrypted = true
        case .server: server.encrypted = true
        }
        return summary
    }

    private mutating func handshake(_ body: some Collection<UInt8>, from side: Side) throws(TLSParseError) -> TLSRecordSummary {
        let length = body.count
        if isTLS13 {
            guard side == .server else {
                throw .unexpectedMessage("plaintext handshake record from client after TLS 1.3 ServerHello")
            }
            return TLSRecordSummary(contentType: .handshake, length: length, isOpaque: true)
        }
        if peer(side).encrypted {
            switch side {
            case .client: client.sentFinished = true
            case .server: server.sentFinished = true
            }
            if client.sentFinished && server.sentFinished { isHandshakeComplete = true }
            return TLSRecordSummary(contentType: .handshake, length: length, isOpaque: true)
        }
        var messages: [String] = []
        switch side {
        case .client:
            try client.reassembler.append(body)
            while let message = try client.reassembler.nextMessage() {
                messages.append(try clientMessage(message))
            }
        case .server:
            try server.reassembler.append(body)
            while let message = try server.reassembler.nextMessage() {
                messages.append(try serverMessage(message))
                if isTLS13 {
                    guard server.reassembler.isEmpty else {
                        throw .unexpectedMessage("handshake data after TLS 1.3 ServerHello in the same record")
                    }
                    break
                }
            }
        }
        return TLSRecordSummary(contentType: .handshake, length: length, messages: messages)
    }

    private mutating func clientMessage(_ message: HandshakeMessage) throws(TLSParseError) -> String {
        guard message.type == HandshakeType.clientHello.rawValue else {
            guard serverHello != nil else {
                throw .unexpectedMessage("client sent \(message.typeName) before ServerHello")
            }
            return message.typeName
        }
        if clientHello == nil {
            let hello = try ClientHello(body: message.body)
            clientHello = hello
            return hello.summary
        }
        guard helloRetryRequest != nil, secondClientHello == nil, serverHello == nil else {
            throw .unexpectedMessage("ClientHello not in reply to a HelloRetryRequest")
        }
        let hello = try ClientHello(body: message.body)
        secondClientHello = hello
        return hello.summary
    }

    private mutating func serverMessage(_ message: HandshakeMessage) throws(TLSParseError) -> String {
        guard message.type == HandshakeType.serverHello.rawValue else {
            guard serverHello != nil else { throw .unexpectedMessage("expected ServerHello, got \(message.typeName)") }
            return message.typeName
        }
        guard serverHello == nil else { throw .unexpectedMessage("second ServerHello") }
        if helloRetryRequest != nil && secondClientHello == nil {
            throw .unexpectedMessage("ServerHello before the second ClientHello")
        }
        let hello = try ServerHello(body: message.body)
        if hello.isHelloRetryRequest {
            guard helloRetryRequest == nil else { throw .unexpectedMessage("second HelloRetryRequest") }
            helloRetryRequest = hello
            return hello.summary
        }
        serverHello = hello
        version = hello.selectedVersion
        cipherSuite = hello.cipherSuite
        alpn = hello.alpn
        if isTLS13 { server.encrypted = true }
        return hello.summary
    }
}
