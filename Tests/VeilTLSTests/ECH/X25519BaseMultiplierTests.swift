import Testing
@testable import VeilTLS

/// GREASE ECH's X25519 public keys come from Veil's own fixed-base multiplication: they must be
/// exactly the keys libcrypto computes (else a GREASE enc could be told from a real one).
@Suite struct X25519BaseMultiplierTests {
    /// RFC 7748 section 6.1: Alice's and Bob's public keys.
    @Test func rfc7748Vectors() {
        let alice = decodeHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
        #expect(X25519BaseMultiplier.publicKey(scalar: alice)
                == decodeHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"))
        let bob = decodeHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
        #expect(X25519BaseMultiplier.publicKey(scalar: bob)
                == decodeHex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"))
    }

    /// The same public key as libcrypto's for random scalars and the extreme ones.
    @Test func matchesLibcrypto() throws {
        var scalars: [[UInt8]] = [[UInt8](repeating: 0, count: 32), [UInt8](repeating: 0xff, count: 32),
                                  [1] + [UInt8](repeating: 0, count: 31), [UInt8](repeating: 0, count: 31) + [0x40]]
        for _ in 0..<500 { scalars.append(try X25519.generatePrivateKey()) }
        for scalar in scalars {
            let ours = X25519BaseMultiplier.publicKey(scalar: scalar)
            let theirs = try X25519.publicKey(privateKey: scalar)
            #expect(ours == theirs, "scalar \(scalar)")
        }
        #expect(X25519BaseMultiplier.publicKey(scalar: [1, 2, 3]) == nil)
    }

    /// GREASE's enc is the public key of the key it drew (libcrypto's answer for it).
    @Test func greaseEncIsTheRealPublicKey() throws {
        let sk = try X25519.generatePrivateKey()
        let random: ECHRandomSource = { count in count == 32 ? sk : [UInt8](repeating: 7, count: count) }
        let data = try ECHGrease.extensionData(serverName: "origin.test", alpn: ["h2"], random: random)
        guard case .outer(_, _, _, let enc, _) = try ECHClientHelloExtension(data: data) else {
            Issue.record("not an outer extension")
            return
        }
        #expect(enc == (try X25519.publicKey(privateKey: sk)))
    }
}
