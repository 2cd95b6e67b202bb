import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An independent ECH server for the end-to-end tests: BoringSSL's `bssl-tool server -www`
/// (Debian's android-boringssl, the ECH code Chrome uses) with keys from `bssl-tool
/// generate-ech` (public name public.test, config id 7) and a certificate for origin.test and
/// public.test from a throw-away CA (openssl CLI).
///
/// bssl-tool binds its port on every interface, so it runs in a network namespace of its own
/// (`unshare --net`, only lo); socat carries its port to a Unix socket, and a second socat
/// listens on 127.0.0.1 here: the client's bytes go over a real loopback TCP connection.
final class BoringSSLECHServer {
    static let tool = "/usr/bin/bssl-tool"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: tool) }
    static let unavailableReason = "SKIPPED: /usr/bin/bssl-tool is missing (Debian package android-boringssl, in the Makefile's APT_PACKAGES)"

    let dir: String
    let port: UInt16
    private var processes: [Process] = []

    /// The ECHConfigList the server's key belongs to (2-byte length included).
    var configList: [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: dir + "/list.bin"))) ?? Data()) }
    var caPath: String { dir + "/ca.pem" }

    /// - Parameters:
    ///   - curves: `-curves` for the server (P-256 forces a HelloRetryRequest from X25519 first).
    ///   - otherKey: the server holds a second, different ECH key (the client's config is stale).
    init(curves: String? = nil, otherKey: Bool = false) throws {
        var template = Array("/tmp/veil-ech-XXXXXX".utf8CString)
        dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
        port = try Self.freePort()
        try Self.shell("""
            set -e; cd '\(dir)'
            bssl-tool generate-ech -out-ech-config-list list.bin -out-ech-config config.bin -out-private-key key.bin \
                -public-name public.test -config-id 7
            bssl-tool generate-ech -out-ech-config-list other-list.bin -out-ech-config other-config.bin \
                -out-private-key other-key.bin -public-name public.test -config-id 7
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
                -subj /CN=veil-ech-test-ca -days 2 2>/dev/null
            openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key -out leaf.csr \
                -subj /CN=origin.test 2>/dev/null
            printf 'subjectAltName=DNS:origin.test,DNS:public.test\\n' > san.cnf
            openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 \
                -extfile san.cnf 2>/dev/null
            chmod 600 ca.key leaf.key key.bin other-key.bin
            """)
        let echFiles = otherKey ? "-ech-config other-config.bin -ech-key other-key.bin" : "-ech-config config.bin -ech-key key.bin"
        let inner = """
            cd '\(dir)'; ip link set lo up
            bssl-tool server -accept 4433 -cert leaf.pem -key leaf.key \(echFiles) -www -loop \
                \(curves.map { "-curves " + $0 } ?? "") >server.log 2>&1 & b=$!
            until ss -ltn | grep -q ':4433 '; do sleep 0.05; done
            socat UNIX-LISTEN:'\(dir)'/server.sock,fork TCP:127.0.0.1:4433 & s=$!
            trap 'kill $b $s 2>/dev/null; exit 0' TERM INT
            wait
            """
        try start("/usr/bin/env", ["--default-signal", "/usr/bin/unshare", "--net", "/bin/bash", "-c", inner])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: dir + "/server.sock") { usleep(20_000) }
        try start("/usr/bin/env", ["--default-signal", "/usr/bin/socat", "TCP-LISTEN:\(port),bind=127.0.0.1,reuseaddr,fork", "UNIX-CONNECT:" + dir + "/server.sock"])
        for _ in 0..<200 {
            if let fd = try? Self.connect(port: port) { close(fd); return }
            usleep(20_000)
        }
        stop()
        throw ECHTestFailure("the bssl-tool server did not come up (see \(dir)/server.log)")
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

    func stop() {
        for p in processes where p.isRunning {
            p.terminate()
            p.waitUntilExit()
        }
        processes = []
    }

    var serverLog: String { (try? String(contentsOfFile: dir + "/server.log", encoding: .utf8)) ?? "" }

    /// Started through `env --default-signal`: the test runner ignores SIGTERM, and its
    /// children would inherit that (then `stop()` could not end them).
    private func start(_ executable: String, _ arguments: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        processes.append(p)
    }

    static func shell(_ script: String) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", script]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw ECHTestFailure("set-up script exited \(p.terminationStatus)") }
    }

    /// A port on 127.0.0.1 nothing listens on now.
    static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ECHTestFailure("no free port") }
        return UInt16(bigEndian: addr.sin_port)
    }

    /// A blocking TCP connection to 127.0.0.1:`port` with a 5 s receive timeout.
    static func connect(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw ECHTestFailure("connect 127.0.0.1:\(port) failed")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }
}

struct ECHTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
