import Testing
@testable import VeilTLS

@Suite struct NamesTests {
    @Test func versions() {
        #expect(TLSNames.version(0x0300) == "SSLv3")
        #expect(TLSNames.version(0x0301) == "TLSv1.0")
        #expect(TLSNames.version(0x0302) == "TLSv1.1")
        #expect(TLSNames.version(0x0303) == "TLSv1.2")
        #expect(TLSNames.version(0x0304) == "TLSv1.3")
        #expect(TLSNames.version(0x7f1c) == "0x7f1c")
        #expect(TLSNames.version(0x0a0a) == "0x0a0a")
    }

    @Test func cipherSuites() {
        #expect(TLSNames.cipherSuite(0x1301) == "TLS_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0x1302) == "TLS_AES_256_GCM_SHA384")
        #expect(TLSNames.cipherSuite(0x1303) == "TLS_CHACHA20_POLY1305_SHA256")
        #expect(TLSNames.cipherSuite(0x1304) == "TLS_AES_128_CCM_SHA256")
        #expect(TLSNames.cipherSuite(0x1305) == "TLS_AES_128_CCM_8_SHA256")
        #expect(TLSNames.cipherSuite(0xc02b) == "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0xc030) == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")
        #expect(TLSNames.cipherSuite(0xcca8) == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        #expect(TLSNames.cipherSuite(0xcca9) == "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
        #expect(TLSNames.cipherSuite(0xc013) == "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")
        #expect(TLSNames.cipherSuite(0x009c) == "TLS_RSA_WITH_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0x009d) == "TLS_RSA_WITH_AES_256_GCM_SHA384")
        #expect(TLSNames.cipherSuite(0x00ff) == "TLS_EMPTY_RENEGOTIATION_INFO_SCSV")
        #expect(TLSNames.cipherSuite(0x1a1a) == "0x1a1a")
        #expect(TLSNames.cipherSuite(0xbeef) == "0xbeef")
    }

    @Test func groups() {
        #expect(TLSNames.group(0x001d) == "x25519")
        #expect(TLSNames.group(0x001e) == "x448")
        #expect(TLSNames.group(0x0017) == "secp256r1")
        #expect(TLSNames.group(0x0018) == "secp384r1")
        #expect(TLSNames.group(0x0019) == "secp521r1")
        #expect(TLSNames.group(0x0100) == "ffdhe2048")
        #expect(TLSNames.group(0x0104) == "ffdhe8192")
        #expect(TLSNames.group(0x11ec) == "X25519MLKEM768")
        #expect(TLSNames.group(0x4a4a) == "0x4a4a")
    }

    @Test func grease() {
        let all = (0..<16).map { UInt16($0) << 12 | 0x0a00 | UInt16($0) << 4 | 0x0a }
        #expect(all.first == 0x0a0a && all.last == 0xfafa)
        for value in all { #expect(TLSNames.isGREASE(value)) }
        for value: UInt16 in [0x0a1a, 0x1a0a, 0x0a0b, 0x0000, 0x1301, 0xfefe, 0x0b0b] {
            #expect(!TLSNames.isGREASE(value))
        }
        #expect((0...0xffff).count { TLSNames.isGREASE(UInt16($0)) } == 16)
    }

    @Test func handshakeTypeNames() {
        let expected: [(UInt8, String)] = [
            (1, "ClientHello"), (2, "ServerHello"), (4, "NewSessionTicket"), (5, "EndOfEarlyData"),
            (8, "EncryptedExtensions"), (11, "Certificate"), (12, "ServerKeyExchange"),
            (13, "CertificateRequest"), (14, "ServerHelloDone"), (15, "CertificateVerify"),
            (16, "ClientKeyExchange"), (20, "Finished"), (22, "CertificateStatus"), (24, "KeyUpdate"),
            (254, "MessageHash"),
        ]
        for (code, name) in expected { #expect(HandshakeType.name(for: code) == name) }
        #expect(HandshakeType.name(for: 0x63) == "Handshake(0x63)")
        #expect(HandshakeType.name(for: 3) == "Handshake(0x03)")
    }

    @Test func alertNames() {
        let expected: [(UInt8, String)] = [
            (0, "close_notify"), (10, "unexpected_message"), (20, "bad_record_mac"), (22, "record_overflow"),
            (40, "handshake_failure"), (42, "bad_certificate"), (43, "unsupported_certificate"),
            (44, "certificate_revoked"), (45, "certificate_expired"), (46, "certificate_unknown"),
            (47, "illegal_parameter"), (48, "unknown_ca"), (49, "access_denied"), (50, "decode_error"),
            (51, "decrypt_error"), (70, "protocol_version"), (71, "insufficient_security"),
            (80, "internal_error"), (86, "inappropriate_fallback"), (90, "user_canceled"),
            (109, "missing_extension"), (110, "unsupported_extension"), (112, "unrecognized_name"),
            (113, "bad_certificate_status_response"), (115, "unknown_psk_identity"),
            (116, "certificate_required"), (120, "no_application_protocol"),
        ]
        for (code, name) in expected { #expect(TLSAlert.name(for: code) == name) }
        #expect(TLSAlert.name(for: 200) == "alert(200)")
    }

    @Test func parsesAlerts() throws {
        let alert = try TLSAlert(body: [2, 40])
        #expect(alert.level == .fatal)
        #expect(alert.code == 40)
        #expect(alert.name == "handshake_failure")
        #expect(alert.summary == "Alert fatal handshake_failure")
        #expect(try TLSAlert(body: [1, 0]).summary == "Alert warning close_notify")
        #expect(throws: TLSParseError.truncated("alert")) { try TLSAlert(body: [2]) }
        #expect(throws: TLSParseError.self) { try TLSAlert(body: [2, 40, 2, 40]) }
        #expect(throws: TLSParseError.malformed("alert: level 3")) { try TLSAlert(body: [3, 40]) }
    }

    @Test func errorDescriptions() {
        #expect(TLSParseError.badVersion(0x0200).description == "bad record version 0x0200 (major version must be 3)")
        #expect(TLSParseError.recordTooLong(20000).description == "record length 20000 exceeds limit 18432")
        #expect(TLSParseError.truncated("ClientHello random").description == "truncated ClientHello random")
        #expect(TLSParseError.messageTooLarge(200000).description == "handshake message length 200000 exceeds limit")
        #expect(TLSParseError.malformed("x").description == "malformed x")
        #expect(TLSParseError.unexpectedMessage("expected ClientHello").description
            == "unexpected message (expected ClientHello)")
    }
}
