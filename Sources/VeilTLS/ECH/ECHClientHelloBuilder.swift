/// Turns the ClientHelloInner OpenSSL wrote (real name, inner ECH marker) into the
/// ClientHelloOuter Veil sends (RFC 9849 section 5.1, 6.1, 6.1.1, 6.1.5), and keeps what the
/// acceptance check needs (`check(serverHello:)`, in ECHClientHelloBuilder+Acceptance).
///
/// The outer copies the inner's legacy_version, legacy_session_id, cipher_suites, compression
/// methods and extensions, in order, except:
/// - server_name carries the config's public_name (added first when the inner has none);
/// - the inner marker becomes the outer "encrypted_client_hello" extension, in its place;
/// - pre_shared_key becomes a GREASE PSK of the same shape (section 6.1.2);
/// - padding (21) is dropped, and a non-empty session_ticket (35) is sent empty (both describe
///   the inner handshake, not the outer one).
/// key_share is copied: the outer offers the inner's key shares (allowed by section 6.1 rule
/// 4). The random is fresh (and kept for the second outer after a HelloRetryRequest).
/// The EncodedClientHelloInner is not compressed (no ech_outer_extensions): its padding
/// follows section 6.1.3 (maximum_name_length, then a multiple of 32).
public final class ECHClientHelloBuilder {
    public let config: ECHConfig
    public let suite: HPKESuite
    let context: HPKEContext
    /// The encapsulated key of the first ClientHelloOuter (the second sends it empty).
    public let encapsulatedKey: [UInt8]
    let random: ECHRandomSource
    var outerRandom: [UInt8] = []
    /// The ClientHelloInner messages wrapped so far (header included): the inner transcript.
    public internal(set) var innerHellos: [[UInt8]] = []
    /// The HelloRetryRequest that confirmed ECH, if one came.
    var helloRetryRequest: [UInt8]?
    /// HPKE's KEM shared_secret, kept until `takeKeyLogLines` (ECH_SECRET), then zeroed.
    var kemSharedSecret: [UInt8] = []

    /// What one `wrap` made: the ClientHelloOuter message (header included), and for tests and
    /// logs the EncodedClientHelloInner and the AAD it was sealed with.
    public struct Wrapped: Sendable {
        public let outer: [UInt8]
        public let encodedInner: [UInt8]
        public let aad: [UInt8]
    }

    public init(selection: ECHConfigList.Selection, random: @escaping ECHRandomSource = ECHRandom.system) throws(ECHError) {
        config = selection.config
        suite = selection.suite
        self.random = random
        var skE = try ECHRandom.bytes(random, DHKEM.length, "the HPKE ephemeral key")
        defer { skE.zeroize() }
        do {
            (encapsulatedKey, context, kemSharedSecret) = try HPKE.setupBaseSenderKeepingSecret(
                suite: suite, recipientPublicKey: config.publicKey, info: config.hpkeInfo, ephemeralPrivateKey: skE)
        } catch {
            throw .crypto(error.description)
        }
    }

    deinit { kemSharedSecret.zeroize() }

    /// Wraps the first ClientHelloInner, or the second one after a HelloRetryRequest that
    /// confirmed ECH (same HPKE context, next sequence number, empty enc).
    public func wrap(innerMessage: [UInt8]) throws(ECHError) -> Wrapped {
        let second: Bool
        switch (innerHellos.count, helloRetryRequest) {
        case (0, _): second = false
        case (1, .some): second = true
        case (1, nil): throw .unexpected("a second ClientHello without a HelloRetryRequest that accepted ECH")
        default: throw .unexpected("a third ClientHello")
        }
        let inner = try Self.parseInner(innerMessage)
        let encoded = Self.encodeInner(inner, maximumNameLength: Int(config.maximumNameLength))
        let payloadLength = encoded.count + HPKESuite.tagLength
        guard payloadLength <= 0xffff else { throw .badInner("EncodedClientHelloInner of \(encoded.count) bytes") }
        if !second { outerRandom = try ECHRandom.bytes(random, 32, "the ClientHelloOuter random") }

        var extensions: [[UInt8]] = []
        var echIndex = 0
        if inner.serverName == nil { extensions.append(HelloEncoding.serverName(config.publicName)) }
        for ext in inner.extensions {
            switch ext.type {
            case TLSExtension.serverName:
                extensions.append(HelloEncoding.serverName(config.publicName))
            case TLSExtension.encryptedClientHello:
                echIndex = extensions.count
                extensions.append([])  // filled below
            case TLSExtension.preSharedKey:
                extensions.append(HelloEncoding.extension(ext.type, try greasePSK(ext.data)))
            case Self.paddingExtension:
                continue
            case Self.sessionTicketExtension where !ext.data.isEmpty:
                extensions.append(HelloEncoding.extension(ext.type, []))
            default:
                extensions.append(HelloEncoding.extension(ext.type, ext.data))
            }
        }
        let enc = second ? [] : encapsulatedKey
        let echLength = 4 + 1 + 4 + 1 + 2 + enc.count + 2 + payloadLength
        guard extensions.reduce(echLength, { $0 + $1.count }) <= 0xffff else {
            throw .badInner("the ClientHelloOuter's extensions would exceed 65535 bytes")
        }
        func outerBody(payload: [UInt8]) -> [UInt8] {
            var all = extensions
            all[echIndex] = HelloEncoding.extension(TLSExtension.encryptedClientHello, ECHClientHelloExtension.outer(
                kdf: suite.kdf, aead: suite.aead.rawValue, configID: config.configID, enc: enc, payload: payload).encoded)
            return HelloEncoding.clientHelloBody(legacyVersion: inner.legacyVersion, random: outerRandom, sessionID: inner.sessionID,
                                                 cipherSuites: inner.cipherSuites, compressionMethods: inner.compressionMethods,
                                                 extensions: all)
        }
        let aad = outerBody(payload: [UInt8](repeating: 0, count: payloadLength))
        let sealed: [UInt8]
        do {
            sealed = try context.seal(aad: aad, plaintext: encoded)
        } catch {
            throw .crypto(error.description)
        }
        let body = outerBody(payload: sealed)
        guard body.count <= 0xff_ffff else { throw .badInner("ClientHelloOuter too long") }
        innerHellos.append(innerMessage)
        return Wrapped(outer: HelloEncoding.handshake(type: HandshakeType.clientHello.rawValue, body: body),
                       encodedInner: encoded, aad: aad)
    }

    static let paddingExtension: UInt16 = 21
    static let sessionTicketExtension: UInt16 = 35

    /// The ClientHelloInner, checked: a ClientHello carrying the inner ECH marker and offering
    /// TLS 1.3 only (section 6.1 rules 1 and 4).
    static func parseInner(_ message: [UInt8]) throws(ECHError) -> ClientHello {
        guard message.count > HandshakeMessage.headerSize, message[0] == HandshakeType.clientHello.rawValue else {
            throw .badInner("not a ClientHello message")
        }
        let length = Int(message[1]) << 16 | Int(message[2]) << 8 | Int(message[3])
        guard length == message.count - HandshakeMessage.headerSize else { throw .badInner("ClientHello length \(length) does not match") }
        let hello: ClientHello
        do {
            hello = try ClientHello(body: Array(message[HandshakeMessage.headerSize...]))
        } catch {
            throw .badInner(error.description)
        }
        guard let marker = hello.findExtension(TLSExtension.encryptedClientHello),
              (try? ECHClientHelloExtension(data: marker.data)) == .inner else {
            throw .badInner("no inner encrypted_client_hello marker")
        }
        let versions = hello.supportedVersions.filter { !TLSNames.isGREASE($0) }
        guard !versions.isEmpty, versions.allSatisfy({ $0 >= 0x0304 }) else {
            throw .badInner("the ClientHelloInner must offer TLS 1.3 only (offers " + hello.offeredVersions.map(TLSNames.version).joined(separator: ",") + ")")
        }
        return hello
    }

    /// EncodedClientHelloInner (section 5.1): the inner ClientHello body with an empty
    /// legacy_session_id, then zeros (section 6.1.3): max(0, L - D) for a server_name of D
    /// bytes (L + 9 without one), L the config's maximum_name_length, then up to a multiple of 32.
    static func encodeInner(_ inner: ClientHello, maximumNameLength: Int) -> [UInt8] {
        var encoded = HelloEncoding.clientHelloBody(
            legacyVersion: inner.legacyVersion, random: inner.random, sessionID: [], cipherSuites: inner.cipherSuites,
            compressionMethods: inner.compressionMethods,
            extensions: inner.extensions.map { HelloEncoding.extension($0.type, $0.data) })
        let padding = paddingLength(unpadded: encoded.count, serverNameLength: inner.serverName?.utf8.count,
                                    maximumNameLength: maximumNameLength)
        encoded += [UInt8](repeating: 0, count: padding)
        return encoded
    }

    /// Section 6.1.3's padding for an EncodedClientHelloInner of `unpadded` bytes.
    static func paddingLength(unpadded: Int, serverNameLength: Int?, maximumNameLength: Int) -> Int {
        var padding = serverNameLength.map { max(0, maximumNameLength - $0) } ?? maximumNameLength + 9
        let length = unpadded + padding
        padding += 31 - ((length - 1) % 32)
        return padding
    }

    /// A GREASE pre_shared_key (section 6.1.2) shaped like the inner one: random identities
    /// of the same lengths, random ages, random binders of the same lengths.
    func greasePSK(_ data: [UInt8]) throws(ECHError) -> [UInt8] {
        do {
            var reader = ByteReader(data)
            var identities = try reader.readVector(lengthBytes: 2, "pre_shared_key identities")
            var binders = try reader.readVector(lengthBytes: 2, "pre_shared_key binders")
            try reader.expectEnd("pre_shared_key")
            var fakeIdentities: [UInt8] = []
            while !identities.isAtEnd {
                let identity = try identities.readVector(lengthBytes: 2, "pre_shared_key identity")
                _ = try identities.readRange(4, "obfuscated_ticket_age")
                fakeIdentities += HelloEncoding.vector16(try ECHRandom.bytes(random, identity.remaining, "a GREASE PSK identity"))
                fakeIdentities += try ECHRandom.bytes(random, 4, "a GREASE ticket age")
            }
            var fakeBinders: [UInt8] = []
            while !binders.isAtEnd {
                let binder = try binders.readVector(lengthBytes: 1, "pre_shared_key binder")
                fakeBinders += HelloEncoding.vector8(try ECHRandom.bytes(random, binder.remaining, "a GREASE PSK binder"))
            }
            return HelloEncoding.vector16(fakeIdentities) + HelloEncoding.vector16(fakeBinders)
        } catch let error as TLSParseError {
            throw .badInner(error.description)
        } catch let error as ECHError {
            throw error
        } catch {
            throw .badInner("pre_shared_key")
        }
    }
}
