#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Testing
@testable import VeilTLS

/// Temporary directories and file helpers for the CA / minter tests (no Foundation).
enum PKITestSupport {
    /// A fresh directory under /tmp (mode 0700), removed by `removeTree`.
    static func makeTemporaryDirectory() -> String {
        var template = Array("/tmp/veil-ca-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        return String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `rm -rf path` (directories and regular files only).
    static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            if let dir = opendir(path) {
                var names: [String] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                    }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(dir)
                for name in names { removeTree(path + "/" + name) }
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    static func exists(_ path: String) -> Bool { mode(path) != nil }

    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(fd, &chunk, chunk.count)
            if n <= 0 { break }
            out += chunk.prefix(n)
        }
        return out
    }

    /// Creates or truncates `path` with `contents`, then sets `mode`.
    static func write(_ path: String, _ contents: [UInt8], mode: mode_t = 0o600) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        precondition(fd >= 0, "open \(path) failed")
        _ = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        fchmod(fd, mode)
        close(fd)
    }

    /// Runs a shell command; returns its exit status and combined output.
    static func run(_ command: String) -> (status: Int32, output: String) {
        guard let pipe = popen(command + " 2>&1", "r") else { return (-1, "popen failed") }
        var output: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 1024)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil {
            output += buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        }
        let status = pclose(pipe)
        return ((status >> 8) & 0xff, String(decoding: output, as: UTF8.self))
    }

    /// The error a throwing call produced, if it is a `CertificateAuthorityError`.
    static func caError(_ body: () throws -> Void) -> CertificateAuthorityError? {
        do {
            try body()
            return nil
        } catch let error as CertificateAuthorityError {
            return error
        } catch {
            Issue.record("unexpected error type: \(error)")
            return nil
        }
    }
}

@Suite("CertificateAuthority")
struct CertificateAuthorityTests {
    @Test func createsCAWithPrivateModes() throws {
        let base = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(base) }
        let home = base + "/nested/veil-home"
        let ca = try CertificateAuthority.loadOrCreate(home: home)

        #expect(ca.wasCreated)
        #expect(ca.certificatePath == home + "/ca.pem")
        #expect(ca.keyPath == home + "/ca-key.pem")
        #expect(PKITestSupport.mode(home) == 0o700)
        #expect(PKITestSupport.mode(base + "/nested") == 0o700)
        #expect(PKITestSupport.mode(ca.keyPath) == 0o600)
        #expect(PKITestSupport.mode(ca.certificatePath) == 0o644)

        let keyText = String(decoding: PKITestSupport.read(ca.keyPath) ?? [], as: UTF8.self)
        #expect(keyText.hasPrefix("-----BEGIN PRIVATE KEY-----"))
        let certText = String(decoding: PKITestSupport.read(ca.certificatePath) ?? [], as: UTF8.self)
        #expect(certText == ca.certificatePEM)
        #expect(certText.hasPrefix("-----BEGIN CERTIFICATE-----"))

        #expect(ca.subjectName.hasPrefix("CN=Veil CA "))
        #expect(ca.subjectName.hasSuffix(", O=Veil"))
        #expect(ca.notAfter.hasSuffix(" UTC"))
    }

    @Test func generatedCertificateIsAProperCA() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        let cert = ca.x509

        #expect(X509_get_version(cert) == Int(X509_VERSION_3))
        #expect(X509_check_ca(cert) == 1)
        #expect(X509_self_signed(cert, 1) == 1)
        #expect(X509_get_pathlen(cert) == 0)
        #expect(X509_get_key_usage(cert) == UInt32(KU_KEY_CERT_SIGN | KU_CRL_SIGN))
        #expect(X509_get0_subject_key_id(cert) != nil)
        // basicConstraints and keyUsage are critical.
        for nid in [NID_basic_constraints, NID_key_usage] {
            let index = X509_get_ext_by_NID(cert, nid, -1)
            #expect(index >= 0)
            #expect(X509_EXTENSION_get_critical(X509_get_ext(cert, index)) == 1)
        }
        // EC P-256 key, SHA-256 signature.
        #expect(EVP_PKEY_get_base_id(ca.privateKey) == EVP_PKEY_EC)
        #expect(EVP_PKEY_get_bits(ca.privateKey) == 256)
        #expect(X509_get_signature_nid(cert) == NID_ecdsa_with_SHA256)
        // Positive 16-byte serial.
        let serial = X509_get0_serialNumber(cert)!
        #expect(serial.pointee.length == 16)
        #expect(serial.pointee.type == V_ASN1_INTEGER)
        // Valid from an hour ago for about ten years.
        let now = Int64(time(nil))
        let notBefore = X509Support.epochSeconds(X509_get0_notBefore(cert))!
        #expect(abs(now - 3600 - notBefore) < 120)
        let years = Double(ca.notAfterSeconds - now) / (365.25 * 86_400)
        #expect(years > 9.9 && years < 10.1)
    }

    @Test func secondLoadReturnsTheSameCertificate() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let first = try CertificateAuthority.loadOrCreate(home: home)
        let keyBefore = PKITestSupport.read(first.keyPath)
        let second = try CertificateAuthority.loadOrCreate(home: home + "/")
        #expect(!second.wasCreated)
        #expect(second.certificatePEM == first.certificatePEM)
        #expect(second.subjectName == first.subjectName)
        #expect(second.notAfter == first.notAfter)
        #expect(X509_cmp(first.x509, second.x509) == 0)
        #expect(EVP_PKEY_eq(first.privateKey, second.privateKey) == 1)
        #expect(PKITestSupport.read(first.keyPath) == keyBefore)
        #expect(PKITestSupport.mode(first.keyPath) == 0o600)
    }

    @Test func corruptCertificateIsReportedAndLeftAlone() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        let garbage = Array("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n".utf8)
        PKITestSupport.write(ca.certificatePath, garbage, mode: 0o644)
        let key = PKITestSupport.read(ca.keyPath)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(error?.kind == .corrupt)
        #expect(error?.path == ca.certificatePath)
        #expect(error?.message.contains(ca.certificatePath) == true)
        #expect(error?.message.contains("remove both") == true)
        #expect(PKITestSupport.read(ca.certificatePath) == garbage)
        #expect(PKITestSupport.read(ca.keyPath) == key)
    }

    @Test func corruptKeyIsReportedAndLeftAlone() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        PKITestSupport.write(ca.keyPath, Array("garbage".utf8), mode: 0o600)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(error?.kind == .corrupt)
        #expect(error?.path == ca.keyPath)
        #expect(PKITestSupport.read(ca.keyPath) == Array("garbage".utf8))
        #expect(PKITestSupport.read(ca.certificatePath) == Array(ca.certificatePEM.utf8))
    }

    @Test func keyReadableByOthersIsRefused() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        chmod(ca.keyPath, 0o644)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(error?.kind == .insecureKeyPermissions)
        #expect(error?.message == "ca-key.pem is accessible by others (mode 0644); run chmod 600 \(ca.keyPath)")
        #expect(PKITestSupport.mode(ca.keyPath) == 0o644)  // not "fixed" behind the user's back

        chmod(ca.keyPath, 0o640)
        let group = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(group?.message.contains("mode 0640") == true)

        chmod(ca.keyPath, 0o400)
        let reloaded = try CertificateAuthority.loadOrCreate(home: home)
        #expect(reloaded.certificatePEM == ca.certificatePEM)
    }

    @Test func missingKeyIsAnErrorNotARegeneration() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        unlink(ca.keyPath)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(error?.kind == .incompletePair)
        #expect(error?.path == ca.keyPath)
        #expect(error?.message.contains(ca.keyPath) == true)
        #expect(!PKITestSupport.exists(ca.keyPath))
        #expect(PKITestSupport.read(ca.certificatePath) == Array(ca.certificatePEM.utf8))
    }

    @Test func missingCertificateIsAnErrorNotARegeneration() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(home) }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        let key = PKITestSupport.read(ca.keyPath)
        unlink(ca.certificatePath)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: home) }
        #expect(error?.kind == .incompletePair)
        #expect(error?.path == ca.certificatePath)
        #expect(!PKITestSupport.exists(ca.certificatePath))
        #expect(PKITestSupport.read(ca.keyPath) == key)
    }

    @Test func keyOfAnotherCAIsAMismatch() throws {
        let homeA = PKITestSupport.makeTemporaryDirectory()
        let homeB = PKITestSupport.makeTemporaryDirectory()
        defer {
            PKITestSupport.removeTree(homeA)
            PKITestSupport.removeTree(homeB)
        }
        let a = try CertificateAuthority.loadOrCreate(home: homeA)
        let b = try CertificateAuthority.loadOrCreate(home: homeB)
        let keyB = PKITestSupport.read(b.keyPath)!
        PKITestSupport.write(a.keyPath, keyB, mode: 0o600)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: homeA) }
        #expect(error?.kind == .keyMismatch)
        #expect(error?.path == a.keyPath)
        #expect(PKITestSupport.read(a.keyPath) == keyB)
    }

    @Test func leafCertificateIsNotAccepted() throws {
        let home = PKITestSupport.makeTemporaryDirectory()
        let other = PKITestSupport.makeTemporaryDirectory()
        defer {
            PKITestSupport.removeTree(home)
            PKITestSupport.removeTree(other)
        }
        let ca = try CertificateAuthority.loadOrCreate(home: home)
        let minter = try CertificateMinter(authority: ca, capacity: 4)
        let leaf = try minter.certificate(for: "leaf.example")
        PKITestSupport.write(other + "/ca.pem", Array(try leaf.pem().utf8), mode: 0o644)
        PKITestSupport.write(other + "/ca-key.pem", Array(try minter.leafKey.pem().utf8), mode: 0o600)

        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: other) }
        #expect(error?.kind == .notCA)
        #expect(error?.path == other + "/ca.pem")
    }

    @Test func homeThatIsAFileIsRefused() throws {
        let base = PKITestSupport.makeTemporaryDirectory()
        defer { PKITestSupport.removeTree(base) }
        PKITestSupport.write(base + "/file", [1, 2, 3])
        let error = PKITestSupport.caError { _ = try CertificateAuthority.loadOrCreate(home: base + "/file") }
        #expect(error?.kind == .directory)
        #expect(PKITestSupport.read(base + "/file") == [1, 2, 3])
    }

    @Test func openSSLErrorDrainsTheQueue() {
        // Provoke a real OpenSSL error: parsing garbage as a certificate.
        #expect(X509Support.parseCertificate(Array("nope".utf8)) == nil)
        let error = OpenSSLError.drain("parsing")
        #expect(error.description.hasPrefix("parsing: error:"))
        #expect(!error.errors.isEmpty)
        #expect(OpenSSLError.drain("again").description == "again")
    }
}
