import Foundation
import Testing
@testable import VeilTLS

/// HPKE base mode cross-checked against an independent implementation: Python `cryptography`
/// 48 (PyPI; its `hazmat.primitives.hpke` is Rust over OpenSSL, written apart from Veil's).
/// For each of the three AEADs: Veil seals, Python opens; Python seals, Veil opens. This is
/// also the only check of X25519 with AES-256-GCM (RFC 9180 has no vector for it).
///
/// Set-up: `$VEIL_HPKE_PYTHON` if set, else `.build/hpke-venv/bin/python`, created here when
/// missing with `python3 -m venv` and `pip install 'cryptography>=48,<49'` (needs PyPI). When
/// that cannot be had, the test is skipped and says why; nothing else is skipped.
@Suite struct HPKECrossCheckTests {
    @Test(.enabled(if: CrossCheckPython.shared.interpreter != nil, "\(CrossCheckPython.shared.unavailableReason)"),
          arguments: HPKESuite.AEAD.allCases)
    func veilAndPythonOpenEachOthersMessages(_ aead: HPKESuite.AEAD) throws {
        let python = try #require(CrossCheckPython.shared.interpreter)
        let suite = HPKESuite(aead: aead)
        let info = Array("tls ech".utf8) + [0] + Array(repeating: 0x5a, count: 40)
        let message = Array("ClientHelloInner for origin.test, padded".utf8) + [UInt8](repeating: 0, count: 23)
        let (sk, pk) = try HPKE.generateKeyPair()
        let (enc, ct) = try HPKE.seal(suite: suite, recipientPublicKey: pk, info: info, aad: [], plaintext: message)
        let lines = try CrossCheckPython.run(python, script: Self.script,
                                             arguments: [String(aead.rawValue), hex(sk), hex(info), hex(enc + ct), hex(message)])
        try #require(lines.count == 3, "python printed \(lines)")
        #expect(lines[0] == hex(message), "Python opened Veil's message")
        let pythonKey = decodeHex(lines[1])
        let pythonSealed = decodeHex(lines[2])
        try #require(pythonSealed.count == 32 + message.count + 16)
        let opened = try HPKE.open(suite: suite, encapsulatedKey: Array(pythonSealed[..<32]), recipientPrivateKey: pythonKey,
                                   info: info, aad: [], ciphertext: Array(pythonSealed[32...]))
        #expect(opened == message, "Veil opened Python's message")
    }

    static let script = """
        import sys
        from cryptography.hazmat.primitives import hpke, serialization
        from cryptography.hazmat.primitives.asymmetric import x25519
        aead = {1: hpke.AEAD.AES_128_GCM, 2: hpke.AEAD.AES_256_GCM, 3: hpke.AEAD.CHACHA20_POLY1305}[int(sys.argv[1])]
        suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, aead)
        veil_key = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(sys.argv[2]))
        info = bytes.fromhex(sys.argv[3])
        print(suite.decrypt(bytes.fromhex(sys.argv[4]), veil_key, info).hex())
        mine = x25519.X25519PrivateKey.generate()
        print(mine.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()).hex())
        print(suite.encrypt(bytes.fromhex(sys.argv[5]), mine.public_key(), info).hex())
        """

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// The Python with `cryptography` 48 the cross-check runs, found or installed once per run.
final class CrossCheckPython: Sendable {
    static let shared = CrossCheckPython()
    let interpreter: String?
    let unavailableReason: String

    private init() {
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().path
        let venv = packageRoot + "/.build/hpke-venv"
        let candidate = ProcessInfo.processInfo.environment["VEIL_HPKE_PYTHON"] ?? venv + "/bin/python"
        let probe = "import cryptography, sys; from cryptography.hazmat.primitives import hpke; sys.exit(0 if cryptography.__version__.startswith('48.') else 1)"
        if (try? Self.status(candidate, ["-c", probe])) == 0 {
            interpreter = candidate
            unavailableReason = ""
            return
        }
        var steps: [String] = []
        if !FileManager.default.fileExists(atPath: venv + "/bin/python") {
            let made = (try? Self.status("/usr/bin/env", ["python3", "-m", "venv", venv])) ?? -1
            steps.append("python3 -m venv \(venv): exit \(made)")
        }
        let pip = (try? Self.status(venv + "/bin/python", ["-m", "pip", "install", "--quiet", "cryptography>=48,<49"])) ?? -1
        steps.append("pip install 'cryptography>=48,<49': exit \(pip)")
        if (try? Self.status(venv + "/bin/python", ["-c", probe])) == 0 {
            interpreter = venv + "/bin/python"
            unavailableReason = ""
        } else {
            interpreter = nil
            unavailableReason = "SKIPPED the HPKE cross-check against Python cryptography 48: it could not be installed ("
                + steps.joined(separator: "; ") + "). The RFC 9180 vector tests still ran."
        }
    }

    private static func status(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// Runs `script` with `arguments`; its standard output's lines.
    static func run(_ python: String, script: String, arguments: [String]) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script] + arguments
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "python exited \(p.terminationStatus)")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
