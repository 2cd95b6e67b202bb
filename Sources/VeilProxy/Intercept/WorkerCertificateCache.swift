import VeilResolver
import VeilWire
import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// A worker's own small cache of minted certificates, in front of the shared minter: a hit costs
/// a dictionary lookup on the ring thread, no lock. Misses go to the minter off the ring.
final class WorkerCertificateCache {
    private var entries: [String: MintedCertificate] = [:]
    private let capacity: Int

    init(capacity: Int = 256) {
        self.capacity = capacity
    }

    func lookup(_ name: String) -> MintedCertificate? {
        let key = name.lowercased()
        guard let c = entries[key] else { return nil }
        // Leave a day's margin, as the minter does, so a certificate never expires in use.
        if c.notAfterSeconds - Int64(time(nil)) < 86_400 {
            entries[key] = nil
            return nil
        }
        return c
    }

    func insert(_ c: MintedCertificate) {
        if entries.count >= capacity, let victim = entries.keys.first { entries[victim] = nil }
        entries[c.name.lowercased()] = c
    }
}
