extension ECHClientHelloBuilder {
    /// Checks the server's answer (a ServerHello or HelloRetryRequest message, header
    /// included) for ECH acceptance (RFC 9849 section 6.1.4, 7.2, 7.2.1). Throws when the
    /// answer does not parse, when a HelloRetryRequest's confirmation is not 8 bytes
    /// (decode_error), or when a ServerHello after an accepting HelloRetryRequest does not
    /// confirm (illegal_parameter, section 6.1.5).
    public func check(serverHello message: [UInt8]) throws(ECHError) -> ECHVerdict {
        guard let first = innerHellos.first else { throw .unexpected("a ServerHello before any ClientHello was wrapped") }
        guard message.count > HandshakeMessage.headerSize, message[0] == HandshakeType.serverHello.rawValue else {
            throw .badServerHello("expected a ServerHello, got handshake type \(message.first.map(String.init) ?? "-")")
        }
        let hello: ServerHello
        do {
            hello = try ServerHello(body: Array(message[HandshakeMessage.headerSize...]))
        } catch {
            throw .badServerHello(error.description)
        }
        guard hello.selectedVersion == 0x0304 else {
            return .rejected("the server negotiated " + TLSNames.version(hello.selectedVersion) + " (ECH needs TLS 1.3)")
        }
        if hello.isHelloRetryRequest {
            guard helloRetryRequest == nil, innerHellos.count == 1 else { throw .badServerHello("a second HelloRetryRequest") }
            guard let ext = hello.findExtension(TLSExtension.encryptedClientHello) else {
                return .rejected("the HelloRetryRequest has no encrypted_client_hello confirmation")
            }
            guard ext.data.count == ECHAcceptance.length else {
                throw .badServerHello("HelloRetryRequest encrypted_client_hello of \(ext.data.count) bytes (must be 8)")
            }
            let range = ext.bodyRange.lowerBound + HandshakeMessage.headerSize..<ext.bodyRange.upperBound + HandshakeMessage.headerSize
            let expected = try ECHAcceptance.expectedHelloRetry(helloRetryRequest: message, extensionRange: range,
                                                                clientHelloInner1: first, cipherSuite: hello.cipherSuite)
            guard expected == ext.data else {
                return .rejected("the HelloRetryRequest's ECH confirmation does not match: the server did not decrypt the ClientHelloInner")
            }
            helloRetryRequest = message
            return .helloRetryAccepted
        }
        let transcript: [UInt8]
        if let hrr = helloRetryRequest {
            guard innerHellos.count == 2 else { throw .unexpected("a ServerHello before the second ClientHello") }
            transcript = try ECHAcceptance.messageHash(first, hash: ECHAcceptance.Hash(cipherSuite: hello.cipherSuite)) + hrr + innerHellos[1]
        } else {
            transcript = first
        }
        let innerRandom = Array(first[HandshakeMessage.headerSize + 2..<HandshakeMessage.headerSize + 34])
        let expected = try ECHAcceptance.expected(serverHello: message, transcriptBefore: transcript, innerRandom: innerRandom,
                                                  cipherSuite: hello.cipherSuite)
        if expected == ECHAcceptance.signal(serverHello: message) { return .accepted }
        if helloRetryRequest != nil {
            throw .badServerHello("the HelloRetryRequest accepted ECH but the ServerHello does not confirm it")
        }
        return .rejected("the ServerHello does not confirm ECH: the server did not decrypt the ClientHelloInner "
            + "(config " + String(config.configID) + " for " + config.publicName + " stale or not the server's)")
    }
}
