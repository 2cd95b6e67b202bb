import Testing
@testable import VeilTLS

/// HPKE's own behaviour beyond the RFC's vectors: round trips in every suite, bad keys refused.
@Suite struct HPKETests {
    @Test(arguments: HPKESuite.AEAD.allCases)
    func singleShotRoundTrip(_ aead: HPKESuite.AEAD) throws {
        let suite = HPKESuite(aead: aead)
        let (sk, pk) = try HPKE.generateKeyPair()
        let message = Array("the ClientHelloInner".utf8)
        let (enc, ct) = try HPKE.seal(suite: suite, recipientPublicKey: pk, info: [1, 2], aad: [3], plaintext: message)
        #expect(enc.count == 32 && ct.count == message.count + 16)
        #expect(try HPKE.open(suite: suite, encapsulatedKey: enc, recipientPrivateKey: sk, info: [1, 2], aad: [3], ciphertext: ct) == message)
        #expect(throws: HPKEError.openFailed) {
            try HPKE.open(suite: suite, encapsulatedKey: enc, recipientPrivateKey: sk, info: [1, 9], aad: [3], ciphertext: ct)
        }
        let empty = try HPKE.seal(suite: suite, recipientPublicKey: pk, info: [], aad: [9], plaintext: [])
        #expect(empty.ciphertext.count == 16)
        #expect(try HPKE.open(suite: suite, encapsulatedKey: empty.encapsulatedKey, recipientPrivateKey: sk, info: [], aad: [9],
                              ciphertext: empty.ciphertext) == [])
        let other = try HPKE.generateKeyPair()
        #expect(throws: HPKEError.openFailed) {
            try HPKE.open(suite: suite, encapsulatedKey: enc, recipientPrivateKey: other.privateKey, info: [1, 2], aad: [3], ciphertext: ct)
        }
    }

    @Test func suitesAreNamedByTheirIdentifiers() {
        #expect(HPKESuite(kem: 0x0020, kdf: 0x0001, aead: 0x0002) == HPKESuite(aead: .aes256GCM))
        #expect(HPKESuite(kem: 0x0010, kdf: 0x0001, aead: 0x0001) == nil)  // P-256
        #expect(HPKESuite(kem: 0x0020, kdf: 0x0002, aead: 0x0001) == nil)  // HKDF-SHA384
        #expect(HPKESuite(kem: 0x0020, kdf: 0x0001, aead: 0xffff) == nil)  // export-only
        #expect(HPKESuite(aead: .aes128GCM).suiteID == Array("HPKE".utf8) + [0, 0x20, 0, 1, 0, 1])
    }

    @Test func badKeysAreErrorsNotTraps() throws {
        let suite = HPKESuite(aead: .aes128GCM)
        #expect(throws: HPKEError.badKeyLength(what: "recipient public key", expected: 32, got: 31)) {
            try HPKE.setupBaseSender(suite: suite, recipientPublicKey: [UInt8](repeating: 9, count: 31), info: [])
        }
        #expect(throws: HPKEError.badKeyLength(what: "encapsulated key", expected: 32, got: 0)) {
            try HPKE.setupBaseRecipient(suite: suite, encapsulatedKey: [], recipientPrivateKey: [UInt8](repeating: 1, count: 32), info: [])
        }
        // The all-zero point and the point of order 8 below give an all-zero shared secret
        // (RFC 7748 section 6.1; RFC 9180 section 7.1.4 says to refuse them).
        let lowOrder: [[UInt8]] = [
            [UInt8](repeating: 0, count: 32),
            decodeHex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        ]
        for point in lowOrder {
            #expect(throws: HPKEError.invalidPublicKey) {
                try HPKE.setupBaseSender(suite: suite, recipientPublicKey: point, info: [])
            }
        }
    }

    @Test func theContextSealsAgainWithTheNextNonce() throws {
        // ECH seals the ClientHelloInner a second time after a HelloRetryRequest with the same context.
        let suite = HPKESuite(aead: .chaCha20Poly1305)
        let (sk, pk) = try HPKE.generateKeyPair()
        let (enc, sender) = try HPKE.setupBaseSender(suite: suite, recipientPublicKey: pk, info: [7])
        let first = try sender.seal(aad: [1], plaintext: [42])
        let second = try sender.seal(aad: [1], plaintext: [42])
        #expect(first != second)
        let recipient = try HPKE.setupBaseRecipient(suite: suite, encapsulatedKey: enc, recipientPrivateKey: sk, info: [7])
        #expect(try recipient.open(aad: [1], ciphertext: first) == [42])
        #expect(try recipient.open(aad: [1], ciphertext: second) == [42])
        sender.sequence = UInt64.max
        #expect(throws: HPKEError.messageLimitReached) { try sender.seal(aad: [], plaintext: []) }
    }
}
