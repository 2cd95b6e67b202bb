/// Keys for one direction of one kTLS socket, as the kernel wants them: the TLS layer derives
/// them (`TLSEngine.kernelKeys`), `KernelTLS.install` hands them to the kernel.
public struct KernelTLSKeys: Sendable, Equatable {
    public enum Cipher: Int32, Sendable { case aes128gcm = 0, aes256gcm = 1, chacha20poly1305 = 2 }
    /// 0x0303 (TLS 1.2) or 0x0304 (TLS 1.3).
    public let version: UInt16
    public let cipher: Cipher
    /// 16 bytes (AES-128-GCM) or 32.
    public let key: [UInt8]
    /// The 12-byte write IV (TLS 1.2 AES-GCM: 4-byte salt, then the explicit nonce to start at).
    public let iv: [UInt8]
    /// Sequence number of the next record in this direction.
    public let sequence: UInt64

    public init(version: UInt16, cipher: Cipher, key: [UInt8], iv: [UInt8], sequence: UInt64) {
        self.version = version
        self.cipher = cipher
        self.key = key
        self.iv = iv
        self.sequence = sequence
    }

    /// The same keys with the sequence number moved on by `n` (fault injection in tests).
    public func advanced(by n: UInt64) -> KernelTLSKeys {
        KernelTLSKeys(version: version, cipher: cipher, key: key, iv: iv, sequence: sequence &+ n)
    }
}
