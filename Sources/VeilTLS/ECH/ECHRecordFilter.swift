/// ECH between an upstream engine and its socket, on records (no I/O): `outbound` takes what
/// OpenSSL wrote and answers what goes on the wire (the ClientHelloInner's record(s) replaced
/// by the ClientHelloOuter's, everything else unchanged); `inbound` watches what the server
/// sent (the caller still hands it to OpenSSL unchanged) and answers the verdict once the
/// ServerHello is complete. After a HelloRetryRequest that confirms ECH the second
/// ClientHello is wrapped too; after the verdict both directions pass through untouched.
///
/// On `.rejected` the caller must end the connection (the server continues with the outer
/// hello, whose transcript OpenSSL does not have: its handshake would fail anyway) and never
/// retry with the real name in clear.
public final class ECHRecordFilter {
    public let builder: ECHClientHelloBuilder
    /// The final verdict (`.accepted` or `.rejected`), once known.
    public private(set) var verdict: ECHVerdict?

    private enum Phase { case clientHello, serverHello, done }
    private var phase = Phase.clientHello
    private var outPending: [UInt8] = []
    private var outMessages = HandshakeReassembler()
    private var inPending: [UInt8] = []
    private var inMessages = HandshakeReassembler()

    public init(builder: ECHClientHelloBuilder) { self.builder = builder }

    /// What to send for `bytes` OpenSSL wrote (possibly nothing yet: a ClientHello split over
    /// several writes is held until it is complete).
    public func outbound(_ bytes: [UInt8]) throws(ECHError) -> [UInt8] {
        guard phase == .clientHello else { return bytes }
        outPending += bytes
        var out: [UInt8] = []
        while phase == .clientHello, let (header, record) = try Self.nextRecord(&outPending, fromServer: false) {
            guard header.contentType == .handshake else {
                out += record
                continue
            }
            do {
                try outMessages.append(record[TLSRecordHeader.size...])
                guard let message = try outMessages.nextMessage() else { continue }
                guard message.type == HandshakeType.clientHello.rawValue, outMessages.isEmpty else {
                    throw ECHError.badInner("OpenSSL wrote \(message.typeName) where a lone ClientHello was expected")
                }
                let wrapped = try builder.wrap(innerMessage: message.encoded())
                out += HelloEncoding.records(.handshake, wrapped.outer, version: header.legacyVersion)
                phase = .serverHello
            } catch let error as ECHError {
                throw error
            } catch {
                throw .badInner("\(error)")
            }
        }
        if phase != .clientHello {
            out += outPending
            outPending = []
        }
        return out
    }

    /// Watches `bytes` the server sent; answers a verdict when its first handshake message
    /// (ServerHello or HelloRetryRequest) is complete, nil before and after.
    public func inbound(_ bytes: [UInt8]) throws(ECHError) -> ECHVerdict? {
        guard phase != .done else { return nil }
        inPending += bytes
        guard phase == .serverHello else { return nil }
        while let (header, record) = try Self.nextRecord(&inPending, fromServer: true) {
            guard header.contentType == .handshake else { continue }  // change_cipher_spec; an alert is OpenSSL's to report
            let message: HandshakeMessage?
            do {
                try inMessages.append(record[TLSRecordHeader.size...])
                message = try inMessages.nextMessage()
            } catch {
                throw .badServerHello("\(error)")
            }
            guard let message else { continue }
            let result = try builder.check(serverHello: message.encoded())
            switch result {
            case .helloRetryAccepted:
                phase = .clientHello
                inMessages = HandshakeReassembler()
            case .accepted, .rejected:
                phase = .done
                verdict = result
                inPending = []
            }
            return result
        }
        return nil
    }

    /// The next complete record of `buffer` (removed from it), or nil when it is not complete.
    private static func nextRecord(_ buffer: inout [UInt8], fromServer: Bool) throws(ECHError) -> (TLSRecordHeader, [UInt8])? {
        guard buffer.count >= TLSRecordHeader.size else { return nil }
        let header: TLSRecordHeader
        do {
            header = try TLSRecordHeader(bytes: buffer[0..<TLSRecordHeader.size])
        } catch {
            throw fromServer ? .badServerHello("\(error)") : .badInner("\(error)")
        }
        let end = TLSRecordHeader.size + header.length
        guard buffer.count >= end else { return nil }
        let record = Array(buffer[0..<end])
        buffer.removeFirst(end)
        return (header, record)
    }
}
