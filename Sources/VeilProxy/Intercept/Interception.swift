import VeilResolver
import VeilWire
import Dispatch
import Synchronization
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
    /// The key log existed with this looser mode; it is 0600 now.
    let keylogTightened: mode_t?
    /// What the start-up probe found.
    let kernelTLS: KernelTLS.Availability
    /// Fault injection for the kTLS VM test only (VEIL_FAULT_KTLS_SEQUENCE=N): adds N to every
    /// transmit sequence number installed, to prove a wrong install fails fast instead of hanging.
    let ktlsSequenceFault: UInt64
    /// Fault injection for the kTLS VM test only (VEIL_FAULT_KTLS_REFUSE=client|upstream): that
    /// leg's kTLS install is reported as failed, so the other leg's kTLS and this leg's userspace
    /// relay run together (the mixed relay in the direction no client-facing cipher reaches).
    let ktlsRefusedLeg: String?
    /// Certificates found in a worker's own cache (the minter counts only its own hits).
    let workerCacheHits = Atomic<Int>(0)

    init(config: ProxyConfiguration) throws(StartError) {
        do {
            authority = try CertificateAuthority.loadOrCreate(home: config.home)
        } catch {
            throw StartError("certificate authority: \(error)")
        }
        kernelTLS = config.ktls == .off ? .unavailable("--ktls off") : KernelTLS.probe()
        // Secrets are only asked of OpenSSL when something needs them: a key log, kTLS, or
        // Veil's own record layer.
        let captureSecrets = config.keylogFile != nil || kernelTLS.isAvailable || config.recordLayer == .veil
        do {
            minter = try CertificateMinter(authority: authority)
            var options = TLSContext.UpstreamOptions()
            options.extraTrustFile = config.upstreamCAFile
            options.verify = !config.insecureUpstream
            options.minVersion = config.upstreamMinVersion
            options.groups = config.upstreamGroups
            options.captureSecrets = captureSecrets
            upstreamContext = try TLSContext.upstream(options)
            // The encrypted_client_hello extension (0xfe0d): sent only by engines given ECH data
            // (an inner marker or GREASE), so harmless with --ech off.
            try upstreamContext.enableECHExtension()
            clientContext = try TLSContext.clientFacing(captureSecrets: captureSecrets)
        } catch {
            throw StartError("TLS set-up: \(error)")
        }
        sessions = SessionCache()
        ktlsSequenceFault = getenv("VEIL_FAULT_KTLS_SEQUENCE").flatMap { UInt64(String(cString: $0)) } ?? 0
        ktlsRefusedLeg = getenv("VEIL_FAULT_KTLS_REFUSE").map { String(cString: $0) }
        if let path = config.keylogFile {
            do {
                (keylogFD, keylogTightened) = try PrivateFile.openForAppend(path)
            } catch {
                throw StartError("cannot open key log: \(error)")
            }
        } else {
            keylogFD = -1
            keylogTightened = nil
        }
    }
}

/// Why the proxy could not start.
public struct StartError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ d: String) { description = d }
}
