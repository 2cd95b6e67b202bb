import Dispatch
import VeilRuntime
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// What intercepting connections share across workers: the CA and its certificate minter, the
/// two TLS contexts, the upstream session cache and the key log file.
final class Interception: Sendable {
    let authority: CertificateAuthority
    let minter: CertificateMinter
    let upstreamContext: TLSContext
    let clientContext: TLSContext
    let sessions: SessionCache
    /// Certificates are minted here, never on a ring thread.
    let mintQueue = DispatchQueue(label: "veil.mint")
    /// -1 when no key log was asked for.
    let keylogFD: Int32
    /// What the start-up probe found.
    let kernelTLS: KernelTLS.Availability

    init(config: ProxyConfiguration) throws(StartError) {
        do {
            authority = try CertificateAuthority.loadOrCreate(home: config.home)
        } catch {
            throw StartError("certificate authority: \(error)")
        }
        do {
            minter = try CertificateMinter(authority: authority)
            var options = TLSContext.UpstreamOptions()
            options.extraTrustFile = config.upstreamCAFile
            options.verify = !config.insecureUpstream
            options.minVersion = config.upstreamMinVersion
            options.groups = config.upstreamGroups
            upstreamContext = try TLSContext.upstream(options)
            clientContext = try TLSContext.clientFacing()
        } catch {
            throw StartError("TLS set-up: \(error)")
        }
        sessions = SessionCache()
        kernelTLS = config.ktls == .off ? .unavailable("--ktls off") : KernelTLS.probe()
        if let path = config.keylogFile {
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw StartError("cannot open key log \(path): \(SystemError.message(of: errno))") }
            keylogFD = fd
        } else {
            keylogFD = -1
        }
    }
}

/// Why the proxy could not start.
public struct StartError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
