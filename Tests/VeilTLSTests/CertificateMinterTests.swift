#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import COpenSSLShims
import Synchronization
import Testing
import VeilRuntime
@testable import VeilTLS

/// A CA in a temporary directory plus a minter, removed at the end of a test.
final class MinterFixture {
    let home: String
    let authority: CertificateAuthority
    let minter: CertificateMinter

    init(capacity: Int = 1024, wallClock: (@Sendable () -> Int64)? = nil) throws {
        home = PKITestSupport.makeTemporaryDirectory()
        authority = try CertificateAuthority.loadOrCreate(home: home)
        if let wallClock {
            minter = try CertificateMinter(authority: authority, capacity: capacity, wallClock: wallClock)
        } else {
            minter = try CertificateMinter(authority: authority, capacity: capacity)
        }
    }

    deinit { PKITestSupport.removeTree(home) }

    /// Full chain verification of `leaf` against the CA as an SSL server certificate, with
    /// X509_V_FLAG_X509_STRICT, for a host name or an IP address. Returns X509_V_OK or the error.
    func verify(_ leaf: MintedCertificate, host: String? = nil, ip: String? = nil) -> Int32 {
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        X509_STORE_add_cert(store, authority.x509)
        let ctx = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(ctx) }
        guard X509_STORE_CTX_init(ctx, store, leaf.x509, nil) == 1 else { return -1 }
        X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER)
        let param = X509_STORE_CTX_get0_param(ctx)
        X509_VERIFY_PARAM_set_flags(param, UInt(X509_V_FLAG_X509_STRICT))
        if let host { X509_VERIFY_PARAM_set1_host(param, host, 0) }
        if let ip { X509_VERIFY_PARAM_set1_ip_asc(param, ip) }
        let ok = X509_verify_cert(ctx)
        let code = X509_STORE_CTX_get_error(ctx)
        ERR_clear_error()
        return ok == 1 ? X509_V_OK : (code == X509_V_OK ? -1 : code)
    }
}

/// The subjectAltName entries of a certificate: ("DNS", name) or ("IP", bytes as hex).
func subjectAltNames(_ cert: OpaquePointer) -> [(String, String)] {
    guard let raw = X509_get_ext_d2i(cert, NID_subject_alt_name, nil, nil) else { return [] }
    let names = OpaquePointer(raw)
    defer { GENERAL_NAMES_free(names) }
    var out: [(String, String)] = []
    for i in 0..<veil_sk_GENERAL_NAME_num(names) {
        let name = veil_sk_GENERAL_NAME_value(names, i)!
        let value = name.pointee.d.ia5!
        let bytes = Array(UnsafeBufferPointer(start: value.pointee.data, count: Int(value.pointee.length)))
        switch name.pointee.type {
        case GEN_DNS: out.append(("DNS", String(decoding: bytes, as: UTF8.self)))
        case GEN_IPADD: out.append(("IP", bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()))
        default: out.append(("other", ""))
        }
    }
    return out
}

/// The subject CN of a certificate.
func commonName(_ cert: OpaquePointer) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    let n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, &buffer, Int32(buffer.count))
    return n < 0 ? "" : String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

@Suite("CertificateMinter")
struct CertificateMinterTests {
    @Test func mintedCertificateVerifiesForItsHostName() throws {
        let f = try MinterFixture()
        let leaf = try f.minter.certificate(for: "www.Example.com")
        #expect(leaf.name == "www.example.com")

        let caKey = X509_get0_pubkey(f.authority.x509)
        #expect(X509_verify(leaf.x509, caKey) == 1)
        #expect(X509_check_private_key(leaf.x509, f.minter.leafKey.pkey) == 1)
        #expect(f.verify(leaf, host: "www.example.com") == X509_V_OK)
        #expect(f.verify(leaf, host: "WWW.EXAMPLE.COM") == X509_V_OK)
        #expect(f.verify(leaf, host: "other.example.com") == X509_V_ERR_HOSTNAME_MISMATCH)

        #expect(subjectAltNames(leaf.x509).map { "\($0.0):\($0.1)" } == ["DNS:www.example.com"])
        #expect(commonName(leaf.x509) == "www.example.com")
        #expect(X509Support.nameString(X509_get_issuer_name(leaf.x509)) == f.authority.subjectName)
    }

    @Test func leafExtensionsAndValidity() throws {
        let f = try MinterFixture()
        let leaf = try f.minter.certificate(for: "api.example.org")
        let cert = leaf.x509
        #expect(X509_get_version(cert) == Int(X509_VERSION_3))
        #expect(X509_check_ca(cert) == 0)
        #expect(X509_get_key_usage(cert) == UInt32(KU_DIGITAL_SIGNATURE))
        #expect(X509_get_extended_key_usage(cert) == UInt32(XKU_SSL_SERVER))
        #expect(X509_get_signature_nid(cert) == NID_ecdsa_with_SHA256)
        #expect(EVP_PKEY_get_base_id(f.minter.leafKey.pkey) == EVP_PKEY_EC)
        #expect(EVP_PKEY_get_bits(f.minter.leafKey.pkey) == 256)
        // Key identifiers: AKI = CA's SKI, and a SKI of its own.
        let aki = X509_get0_authority_key_id(cert)
        let caSKI = X509_get0_subject_key_id(f.authority.x509)
        #expect(aki != nil && caSKI != nil)
        #expect(ASN1_OCTET_STRING_cmp(aki, caSKI) == 0)
        #expect(X509_get0_subject_key_id(cert) != nil)
        // Random positive 16-byte serials, different per certificate.
        let other = try f.minter.certificate(for: "www.example.org")
        let serialA = X509_get0_serialNumber(cert)!, serialB = X509_get0_serialNumber(other.x509)!
        #expect(serialA.pointee.length == 16 && serialA.pointee.type == V_ASN1_INTEGER)
        #expect(ASN1_INTEGER_cmp(serialA, serialB) != 0)
        // Valid from an hour ago for 397 days.
        let now = Int64(time(nil))
        let notBefore = X509Support.epochSeconds(X509_get0_notBefore(cert))!
        #expect(abs(now - 3600 - notBefore) < 120)
        #expect(abs(leaf.notAfterSeconds - (now + 397 * 86_400)) < 120)
        #expect(leaf.notAfter.hasSuffix(" UTC"))
    }

    @Test(arguments: [
        ("192.0.2.7", "c0000207", "192.0.2.7"),
        ("2001:DB8::1", "20010db8000000000000000000000001", "2001:db8::1"),
        ("[2001:db8:0:0::1]", "20010db8000000000000000000000001", "2001:db8::1"),
    ])
    func ipLiteralsGetAnIPAddressSAN(input: String, hex: String, canonical: String) throws {
        let f = try MinterFixture()
        let leaf = try f.minter.certificate(for: input)
        #expect(leaf.name == canonical)
        #expect(subjectAltNames(leaf.x509).map { "\($0.0):\($0.1)" } == ["IP:\(hex)"])
        #expect(commonName(leaf.x509) == canonical)
        #expect(f.verify(leaf, ip: canonical) == X509_V_OK)
        #expect(f.verify(leaf, ip: "192.0.2.8") == X509_V_ERR_IP_ADDRESS_MISMATCH)
        // Any spelling of the same address is one cache entry.
        #expect(try f.minter.certificate(for: canonical) === leaf)
    }

    @Test func longNamesKeepTheFullSANAndATruncatedCN() throws {
        let f = try MinterFixture()
        let label = String(repeating: "a", count: 60)
        let name = "\(label).\(label).example.com"
        let leaf = try f.minter.certificate(for: name)
        #expect(commonName(leaf.x509) == String(name.prefix(64)))
        #expect(subjectAltNames(leaf.x509).map(\.1) == [name])
        #expect(f.verify(leaf, host: name) == X509_V_OK)
    }

    @Test(arguments: ["", ".", "exa mple.com", "bücher.example", "a..b", ".lead", "x,y", "a\0b",
                      String(repeating: "a", count: 254)])
    func invalidNamesAreRejected(name: String) throws {
        let f = try MinterFixture()
        #expect(throws: MintError.self) { _ = try f.minter.certificate(for: name) }
        #expect(f.minter.stats().mints == 0)
    }

    @Test func cacheHitReturnsTheSameObject() throws {
        let f = try MinterFixture()
        let first = try f.minter.certificate(for: "cache.example")
        let second = try f.minter.certificate(for: "CACHE.example")
        let third = try f.minter.certificate(for: "cache.example.")
        #expect(first === second)
        #expect(first === third)
        let stats = f.minter.stats()
        #expect(stats.mints == 1)
        #expect(stats.hits == 2)
        #expect(stats.totalMintNanos > 0)
        #expect(stats.averageMintNanos == stats.totalMintNanos)
        #expect(f.minter.count == 1)
    }

    @Test func leastRecentlyUsedEntryIsEvictedAtCapacity() throws {
        let f = try MinterFixture(capacity: 3)
        let a = try f.minter.certificate(for: "a.example")
        _ = try f.minter.certificate(for: "b.example")
        _ = try f.minter.certificate(for: "c.example")
        #expect(try f.minter.certificate(for: "a.example") === a)  // a is now the most recent
        _ = try f.minter.certificate(for: "d.example")              // evicts b
        #expect(f.minter.count == 3)
        #expect(f.minter.cachedNames == ["d.example", "a.example", "c.example"])
        #expect(f.minter.stats().evictions == 1)
        #expect(try f.minter.certificate(for: "a.example") === a)
        _ = try f.minter.certificate(for: "b.example")              // minted again, evicts c
        #expect(f.minter.cachedNames == ["b.example", "a.example", "d.example"])
        let stats = f.minter.stats()
        #expect(stats.mints == 5)
        #expect(stats.hits == 2)
        #expect(stats.evictions == 2)
    }

    @Test func entriesCloseToExpiryAreMintedAgain() throws {
        let clock = Atomic<Int64>(Int64(time(nil)))
        let f = try MinterFixture(wallClock: { clock.load(ordering: .relaxed) })
        let first = try f.minter.certificate(for: "renew.example")
        // 395 days later: still more than a day left.
        clock.store(Int64(time(nil)) + 395 * 86_400, ordering: .relaxed)
        #expect(try f.minter.certificate(for: "renew.example") === first)
        // 396.5 days later: less than a day left.
        clock.store(Int64(time(nil)) + 396 * 86_400 + 43_200, ordering: .relaxed)
        let second = try f.minter.certificate(for: "renew.example")
        #expect(second !== first)
        let stats = f.minter.stats()
        #expect(stats.expired == 1)
        #expect(stats.mints == 2)
        #expect(stats.hits == 1)
    }

    @Test func concurrentLookupsAgreeOnOneCertificatePerName() async throws {
        let f = try MinterFixture(capacity: 64)
        let minter = f.minter
        let names = (0..<16).map { "host\($0).example" }
        let results = try await withThrowingTaskGroup(of: (String, ObjectIdentifier).self) { group in
            for round in 0..<8 {
                for name in names {
                    group.addTask {
                        let cert = try minter.certificate(for: round % 2 == 0 ? name : name.uppercased())
                        return (cert.name, ObjectIdentifier(cert))
                    }
                }
            }
            var all: [(String, ObjectIdentifier)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(results.count == 128)
        #expect(minter.count == 16)
        // After the dust settles every name maps to the cached object.
        for name in names {
            let cached = try minter.certificate(for: name)
            #expect(f.verify(cached, host: name) == X509_V_OK)
        }
        let stats = minter.stats()
        #expect(stats.mints >= 16)
        #expect(stats.mints + stats.hits == 128 + 16)
    }

    @Test func opensslCommandLineVerifiesTheLeaf() throws {
        let f = try MinterFixture()
        let leaf = try f.minter.certificate(for: "cli.example.net")
        let leafPath = f.home + "/leaf.pem"
        // PEM via PEM_write_bio_X509 on a memory BIO.
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        #expect(PEM_write_bio_X509(bio, leaf.x509) == 1)
        let pem = X509Support.readAll(bio)
        #expect(String(decoding: pem, as: UTF8.self) == (try leaf.pem()))
        PKITestSupport.write(leafPath, pem, mode: 0o644)

        let plain = PKITestSupport.run("openssl verify -CAfile '\(f.authority.certificatePath)' '\(leafPath)'")
        #expect(plain.status == 0, "\(plain.output)")
        #expect(plain.output.trimmingSuffixNewlines == "\(leafPath): OK")

        let strict = PKITestSupport.run("""
            openssl verify -x509_strict -purpose sslserver -verify_hostname cli.example.net \
            -CAfile '\(f.authority.certificatePath)' '\(leafPath)'
            """)
        #expect(strict.status == 0, "\(strict.output)")

        let wrongHost = PKITestSupport.run("""
            openssl verify -verify_hostname other.example.net \
            -CAfile '\(f.authority.certificatePath)' '\(leafPath)'
            """)
        #expect(wrongHost.status != 0)
    }

    /// A real TLS 1.3 handshake over a BIO pair: the server presents the minted leaf (and the CA
    /// as chain), the client trusts only the CA and checks the host name.
    @Test func handshakeWithMintedCertificateSucceeds() throws {
        let f = try MinterFixture()
        let leaf = try f.minter.certificate(for: "tls.example")

        let serverCtx = SSL_CTX_new(TLS_server_method())!
        let clientCtx = SSL_CTX_new(TLS_client_method())!
        defer {
            SSL_CTX_free(serverCtx)
            SSL_CTX_free(clientCtx)
        }
        X509_STORE_add_cert(SSL_CTX_get_cert_store(clientCtx), f.authority.x509)
        SSL_CTX_set_verify(clientCtx, SSL_VERIFY_PEER, nil)

        let server = SSL_new(serverCtx)!
        let client = SSL_new(clientCtx)!
        defer {
            SSL_free(server)
            SSL_free(client)
        }
        #expect(SSL_use_certificate(server, leaf.x509) == 1)
        #expect(SSL_use_PrivateKey(server, f.minter.leafKey.pkey) == 1)
        #expect(SSL_ctrl(server, SSL_CTRL_CHAIN_CERT, 1, UnsafeMutableRawPointer(leaf.issuerX509)) == 1)
        #expect(SSL_set1_host(client, "tls.example") == 1)

        var clientBIO: OpaquePointer?
        var serverBIO: OpaquePointer?
        #expect(BIO_new_bio_pair(&clientBIO, 0, &serverBIO, 0) == 1)
        SSL_set_bio(client, clientBIO, clientBIO)
        SSL_set_bio(server, serverBIO, serverBIO)
        SSL_set_connect_state(client)
        SSL_set_accept_state(server)

        var clientDone = false, serverDone = false
        for _ in 0..<20 where !(clientDone && serverDone) {
            if !clientDone { clientDone = SSL_do_handshake(client) == 1 }
            if !serverDone { serverDone = SSL_do_handshake(server) == 1 }
        }
        let failure = OpenSSLError.drain("handshake")
        #expect(clientDone && serverDone, "\(failure)")
        #expect(SSL_get_verify_result(client) == Int(X509_V_OK))
        #expect(String(cString: SSL_get_version(client)) == "TLSv1.3")
        // The client saw leaf + CA.
        let chain = SSL_get_peer_cert_chain(client)
        #expect(chain != nil && OPENSSL_sk_num(chain) == 2)
    }

    @Test func mintTimingOver200Names() throws {
        func threadCPUNanos() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        let f = try MinterFixture(capacity: 256)
        let start = MonotonicClock.now(), startCPU = threadCPUNanos()
        for i in 0..<200 { _ = try f.minter.certificate(for: "bench\(i).example.com") }
        let wall = MonotonicClock.now() - start, cpu = threadCPUNanos() - startCPU
        let stats = f.minter.stats()
        #expect(stats.mints == 200)
        let average = Double(stats.averageMintNanos) / 1000
        print("CertificateMinter: average mint \(Int(average.rounded())) µs over 200 names "
              + "(per call: \(Int((Double(wall) / 200_000).rounded())) µs wall, "
              + "\(Int((Double(cpu) / 200_000).rounded())) µs CPU of this thread)")
    }
}

extension String {
    fileprivate var trimmingSuffixNewlines: String {
        var s = self
        while s.hasSuffix("\n") { s.removeLast() }
        return s
    }
}
