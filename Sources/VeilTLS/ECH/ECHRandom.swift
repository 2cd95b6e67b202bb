internal import COpenSSL

/// Where ECH's random bytes come from: `system` (RAND_bytes) in Veil, a fixed source in tests.
/// A source answers exactly `count` bytes, or fewer when it failed (then ECH is not offered).
public typealias ECHRandomSource = @Sendable (_ count: Int) -> [UInt8]

public enum ECHRandom {
    /// libcrypto's RAND_bytes; an empty answer when it fails.
    public static let system: ECHRandomSource = { count in
        var bytes = [UInt8](repeating: 0, count: count)
        guard count == 0 || RAND_bytes(&bytes, Int32(count)) == 1 else { return [] }
        return bytes
    }

    static func bytes(_ source: ECHRandomSource, _ count: Int, _ what: String) throws(ECHError) -> [UInt8] {
        let bytes = source(count)
        guard bytes.count == count else { throw .crypto("no random bytes for " + what) }
        return bytes
    }
}
