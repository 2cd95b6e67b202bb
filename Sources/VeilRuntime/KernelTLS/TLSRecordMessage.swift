internal import CRuntimeShims

/// One TLS record and its content type, for recvmsg and sendmsg on a kTLS socket (the kernel
/// gives and takes the type in a control message): `EventLoop.receiveRecord` and `sendRecord`.
/// Room for one record's plaintext (16 KiB + 256 bytes), at a fixed heap address: keep the
/// message until the operation using it has completed.
public final class TLSRecordMessage {
    let raw: OpaquePointer

    /// nil when out of memory.
    public init?() {
        guard let m = veil_tls_message_new() else { return nil }
        raw = m
    }

    deinit { veil_tls_message_free(raw) }

    /// The content type of the record last received (23, application data, when the kernel
    /// gave none).
    public var type: UInt8 { veil_tls_message_type(raw) }

    /// Where the record's plaintext is: what was received, or what is being sent.
    public var data: UnsafeMutablePointer<UInt8> { veil_tls_message_data(raw) }

    /// The `count` bytes a receive brought (its completion's result).
    public func body(count: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: data, count: count)
    }
}
