import Testing
@testable import VeilTLS

/// ECHConfigList parsing and selection (RFC 9849 section 4).
@Suite struct ECHConfigListTests {
    /// Made here by BoringSSL (Debian 12's android-boringssl, 13.0.0+r24-2):
    ///   bssl-tool generate-ech -out-ech-config-list list.bin -out-ech-config config.bin \
    ///       -out-private-key key.bin -public-name public.test -config-id 7
    /// `list` is list.bin (the ECHConfigList, its 2-byte length included), `privateKey` is key.bin.
    static let bsslList = decodeHex("""
        0042fe0d003e070020002040ae3decf05155880bc2e994650587fe863815257660\
        52047ccaeea6ca5fa00b00080001000100010003000b7075626c69632e74657374\
        0000
        """)
    static let bsslPrivateKey = decodeHex("cf24a697e38b5223ccdf8968d12252f4b109315adf4d591d8bea87dbb632df8b")

    @Test func parsesBoringSSLsList() throws {
        let list = try ECHConfigList.parse(Self.bsslList)
        #expect(list.configs.count == 1)
        let config = list.configs[0]
        #expect(config.version == 0xfe0d)
        #expect(config.configID == 7)
        #expect(config.kemID == 0x0020)
        #expect(config.publicKey == decodeHex("40ae3decf05155880bc2e994650587fe86381525766052047ccaeea6ca5fa00b"))
        #expect(config.cipherSuites == [.init(kdf: 1, aead: 1), .init(kdf: 1, aead: 3)])
        #expect(config.maximumNameLength == 0)
        #expect(config.publicName == "public.test")
        #expect(config.extensions.isEmpty)
        #expect(config.bytes == Array(Self.bsslList.dropFirst(2)))
        #expect(config.unusableReason == nil)
        let selection = try list.selection()
        #expect(selection.config == config)
        #expect(selection.suite == HPKESuite(aead: .aes128GCM))
        #expect(config.hpkeInfo == Array("tls ech".utf8) + [0] + config.bytes)
        // BoringSSL's private key belongs to the public key in its config (X25519 cross-check).
        #expect(try X25519.publicKey(privateKey: Self.bsslPrivateKey) == config.publicKey)
    }

    @Test func theFirstUsableConfigAndSuiteAreChosen() throws {
        let key = [UInt8](repeating: 0x11, count: 32)
        let list = ECHConfigBytes.list([
            ECHConfigBytes.config(version: 0xfe0c, id: 1, key: key),
            ECHConfigBytes.config(id: 2, kem: 0x0010, key: [UInt8](repeating: 4, count: 65)),
            ECHConfigBytes.config(id: 3, key: key, suites: [(1, 0xffff), (2, 1)]),
            ECHConfigBytes.config(id: 4, key: key, extensions: [(0xfe01, [1])]),
            ECHConfigBytes.config(id: 5, key: key, name: "1.2.3.4"),
            ECHConfigBytes.config(id: 6, key: key, suites: [(1, 0x0099), (1, 3), (1, 1)], maxName: 42, extensions: [(0x0001, [])]),
            ECHConfigBytes.config(id: 8, key: key),
        ])
        let parsed = try ECHConfigList.parse(list)
        #expect(parsed.configs.count == 7)
        let selection = try parsed.selection()
        #expect(selection.config.configID == 6)
        #expect(selection.config.maximumNameLength == 42)
        #expect(selection.config.extensions == [ECHConfig.Extension(type: 1, data: [])])
        #expect(selection.suite == HPKESuite(aead: .chaCha20Poly1305))
    }

    @Test func everySkipHasAReason() throws {
        let key = [UInt8](repeating: 0x11, count: 32)
        let list = ECHConfigBytes.list([
            ECHConfigBytes.config(version: 0xfe0c, id: 1, key: key),
            ECHConfigBytes.config(id: 2, kem: 0x0010, key: [UInt8](repeating: 4, count: 65)),
            ECHConfigBytes.config(id: 3, key: key, suites: [(1, 0xffff), (2, 1)]),
            ECHConfigBytes.config(id: 4, key: key, extensions: [(0xfe01, [1])]),
            ECHConfigBytes.config(id: 5, key: key, name: "1.2.3.4"),
            ECHConfigBytes.config(id: 6, key: key, name: "bad_name.test"),
            ECHConfigBytes.config(id: 7, key: key, name: "cdn.0x1F"),
            ECHConfigBytes.config(id: 9, key: [1, 2, 3]),
            ECHConfigBytes.config(id: 10, key: key, extensions: [(7, []), (7, [])]),
        ])
        #expect(throws: ECHConfigError.noUsableConfig([
            "version 0xfe0c not supported",
            "config 2: KEM 0x0010 not supported (Veil has DHKEM(X25519, HKDF-SHA256), 0x0020)",
            "config 3: no cipher suite Veil supports (offered kdf/aead 0x0001/0xffff, 0x0002/0x0001; Veil has HKDF-SHA256 with AES-128-GCM, AES-256-GCM or ChaCha20-Poly1305)",
            "config 4: unknown mandatory extension 0xfe01",
            "config 5: public_name '1.2.3.4' ends in a numeric label (reads as an IPv4 address)",
            "config 6: public_name 'bad_name.test' is not a DNS name (letters, digits and inner hyphens only)",
            "config 7: public_name 'cdn.0x1F' ends in a numeric label (reads as an IPv4 address)",
            "config 9: X25519 public key of 3 bytes (must be 32)",
            "config 10: extension 0x0007 appears twice",
        ])) { try ECHConfigList.parse(list).selection() }
    }

    @Test func publicNames() {
        #expect(ECHConfig.publicNameProblem("public.test") == nil)
        #expect(ECHConfig.publicNameProblem("cloudflare-ech.com") == nil)
        #expect(ECHConfig.publicNameProblem("a1.b-2.c3") == nil)
        #expect(ECHConfig.publicNameProblem("localhost") == nil)
        for bad in [".public.test", "public.test.", "a..b", "-a.test", "a-.test", "a b.test", "123", "x.0x", "x.0X1f", String(repeating: "a", count: 64) + ".test"] {
            #expect(ECHConfig.publicNameProblem(bad) != nil, "\(bad)")
        }
    }

    @Test func malformedListsSayWhatIsWrong() {
        let good = ECHConfigBytes.config(id: 1, key: [UInt8](repeating: 1, count: 32))
        var longer = good + [0]  // one byte more inside the config's contents, its length says so
        longer[3] += 1
        let cases: [([UInt8], ECHConfigError)] = [
            ([], .malformed("truncated ECHConfigList")),
            ([0, 0], .empty),
            ([0, 5, 0xfe, 0x0d], .malformed("ECHConfigList: length 5 exceeds the 2 bytes of its container")),
            (ECHConfigBytes.list([good]) + [0], .malformed("ECHConfigList: 1 trailing bytes")),
            (ECHConfigBytes.list([ECHConfigBytes.config(id: 1, key: [])]), .malformed("config 1: empty public_key")),
            (ECHConfigBytes.list([ECHConfigBytes.config(id: 1, key: [1], suites: [])]),
             .malformed("config 1: cipher_suites of 0 bytes (a non-empty multiple of 4)")),
            (ECHConfigBytes.list([ECHConfigBytes.config(id: 1, key: [1], name: "")]), .malformed("config 1: empty public_name")),
            (ECHConfigBytes.list([good + [0]]), .malformed("truncated ECHConfig version")),
            (ECHConfigBytes.list([longer]), .malformed("ECHConfig contents: 1 trailing bytes")),
        ]
        for (bytes, expected) in cases {
            #expect(throws: expected) { try ECHConfigList.parse(bytes) }
        }
    }

    @Test func truncationsAndRandomBytesNeverTrap() {
        let inputs = [Self.bsslList, ECHConfigBytes.list([
            ECHConfigBytes.config(id: 1, key: [UInt8](repeating: 1, count: 32), extensions: [(1, [1, 2, 3]), (0x8001, [])]),
            ECHConfigBytes.config(version: 0x1234, id: 2, key: [9]),
        ])]
        for input in inputs {
            for n in 0..<input.count {
                #expect(throws: ECHConfigError.self) { try ECHConfigList.parse(Array(input[..<n])) }
            }
        }
        var rng = SplitMix64(seed: 0xec4_c0f19)
        var parsed = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = inputs[round % 4 / 2]
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            } else {
                bytes = (0..<Int.random(in: 0...80, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if bytes.count >= 2, round % 3 == 0 {  // a plausible outer length, so the inside is reached
                    bytes[0] = UInt8((bytes.count - 2) >> 8); bytes[1] = UInt8((bytes.count - 2) & 0xff)
                }
            }
            if let list = try? ECHConfigList.parse(bytes) {
                parsed += 1
                _ = try? list.selection()
                _ = list.configs.map(\.unusableReason)
            }
        }
        #expect(parsed > 0)
    }
}

/// Builds ECHConfig bytes field by field (RFC 9849 section 4), for tests.
enum ECHConfigBytes {
    static func config(version: UInt16 = 0xfe0d, id: UInt8, kem: UInt16 = 0x0020, key: [UInt8],
                       suites: [(UInt16, UInt16)] = [(1, 1)], maxName: UInt8 = 0, name: String = "public.test",
                       extensions: [(UInt16, [UInt8])] = []) -> [UInt8] {
        var c: [UInt8] = [id] + u16(Int(kem)) + u16(key.count) + key
        c += u16(suites.count * 4) + suites.flatMap { u16(Int($0.0)) + u16(Int($0.1)) }
        c += [maxName, UInt8(name.utf8.count)] + Array(name.utf8)
        let ext = extensions.flatMap { u16(Int($0.0)) + u16($0.1.count) + $0.1 }
        c += u16(ext.count) + ext
        return u16(Int(version)) + u16(c.count) + c
    }

    static func list(_ configs: [[UInt8]]) -> [UInt8] {
        let all = configs.flatMap { $0 }
        return u16(all.count) + all
    }

    static func u16(_ v: Int) -> [UInt8] { [UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
}
