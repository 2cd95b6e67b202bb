internal import COpenSSL

extension Array where Element == UInt8 {
    /// Overwrites the bytes with zeros (OPENSSL_cleanse, which the compiler cannot drop). Copies
    /// made before (copy on write) are not reached: call it on the last owner of a secret.
    mutating func zeroize() {
        withUnsafeMutableBytes { raw in
            if let base = raw.baseAddress { OPENSSL_cleanse(base, raw.count) }
        }
    }
}
