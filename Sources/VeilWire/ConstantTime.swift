/// Comparisons whose duration does not depend on where two secrets first differ.
public enum ConstantTime {
    /// Whether `a` and `b` are equal, looking at every byte of `a` whatever `b` holds: the time
    /// taken depends only on `a.count` (the secret's own length, which the server knows anyway).
    public static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        diff |= a.count == b.count ? 0 : 1
        for i in 0..<a.count {
            let other = i < b.count ? b[i] : ~a[i]
            diff |= a[i] ^ other
        }
        return diff == 0
    }

    public static func equal(_ a: String, _ b: String) -> Bool {
        equal(Array(a.utf8), Array(b.utf8))
    }
}
