internal import CRecordCrypto
import VeilRuntime

/// One direction of a TLS session's record protection, run by Veil itself once the handshake is
/// over: where the kernel has no kTLS, the relay seals and opens records with these instead of
/// SSL_write and SSL_read, straight in its socket buffers (a record is decrypted where it was
/// received and encrypted into the other leg's send buffer: no copies in userspace).
///
/// Pure: bytes in, bytes out. Keys come from `TLSEngine.recordCiphers()`, the same derivation
/// and sequence numbers as the kTLS switch; TLS 1.3 keeps the traffic secret for KeyUpdate.
public final class RecordCipher {
    public enum Opened: Equatable, Sendable {
        /// The plaintext sits at `offset` from the record's start, `count` bytes, content `type`
        /// (TLS 1.3: the inner type).
        case record(type: UInt8, offset: Int, count: Int)
        /// The record cannot be taken; `alert` is what its sender gets.
        case failed(RecordFailure)
    }

    /// Most a sealed record adds to its plaintext (header, explicit nonce, inner type, tag).
    public static let maxOverhead = Int(VEIL_RECORD_MAX_OVERHEAD)
    /// Largest plaintext one record carries.
    public static let maxPlaintext = 16 << 10
    /// Largest record `open` accepts: TLS 1.2 allows 2048 bytes of expansion.
    public static let maxRecord = 5 + (16 << 10) + 2048

    public let version: UInt16
    private let handle: OpaquePointer
    private let cipher: KernelTLSKeys.Cipher
    private var secret: [UInt8]

    init?(keys: KernelTLSKeys, sealing: Bool, secret: [UInt8]) {
        guard let h = veil_record_cipher_new(sealing ? 1 : 0, keys.version, keys.cipher.rawValue,
                                             keys.key, keys.iv, keys.sequence) else { return nil }
        handle = h
        version = keys.version
        cipher = keys.cipher
        self.secret = secret
    }

    deinit {
        veil_record_cipher_free(handle)
        for i in secret.indices { secret[i] = 0 }
    }

    /// Sequence number of the next record.
    public var sequence: UInt64 { veil_record_cipher_sequence(handle) }

    /// Seals `count` bytes (at most `maxPlaintext`) of content `type` as one record at `out`,
    /// which has room for `count + maxOverhead`. Returns the record's length, or 0 on failure.
    @inline(__always)
    public func seal(type: UInt8, _ bytes: UnsafeRawPointer, count: Int, into out: UnsafeMutableRawPointer) -> Int {
        let n = veil_record_seal(handle, type, bytes.assumingMemoryBound(to: UInt8.self), count,
                                 out.assumingMemoryBound(to: UInt8.self))
        return n < 0 ? 0 : n
    }

    /// Seals one record into `buffer`'s free room; returns the record as written there, or nil
    /// when the buffer has no room for it or sealing failed.
    @inline(__always)
    public func seal(type: UInt8, _ bytes: UnsafeRawPointer, count: Int, into buffer: ByteBuffer) -> UnsafeRawBufferPointer? {
        guard buffer.writable >= count + RecordCipher.maxOverhead else { return nil }
        let target = buffer.writePointer
        let n = seal(type: type, bytes, count: count, into: target)
        guard n > 0 else { return nil }
        buffer.didWrite(n)
        return UnsafeRawBufferPointer(start: target, count: n)
    }

    /// The same for a short record of Veil's own (an alert, a KeyUpdate); never empty, so an
    /// empty array (which has no storage to point at) seals nothing.
    public func seal(type: UInt8, _ bytes: [UInt8], into buffer: ByteBuffer) -> UnsafeRawBufferPointer? {
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            return seal(type: type, base, count: raw.count, into: buffer)
        }
    }

    /// Opens the whole record (header included) of `length` bytes at `record`, in place.
    @inline(__always)
    public func open(_ record: UnsafeMutableRawPointer, length: Int) -> Opened {
        var type: UInt8 = 0
        var offset = 0
        let n = veil_record_open(handle, record.assumingMemoryBound(to: UInt8.self), length, &type, &offset)
        if n >= 0 { return .record(type: type, offset: offset, count: n) }
        switch n {
        case -1: return .failed(RecordFailure(RecordFailure.badRecordMAC, "bad record MAC"))
        case -3: return .failed(RecordFailure(RecordFailure.recordOverflow, "record_overflow: a record of \(length - 5) bytes"))
        case -4: return .failed(RecordFailure(RecordFailure.unexpectedMessage,
                                              version == 0x0304 ? "a record that is not protected application data" : "unexpected record"))
        default: return .failed(RecordFailure(RecordFailure.decodeError, "malformed record"))
        }
    }

    /// What TLS 1.3 handshake messages after the handshake asked for.
    public enum PostHandshake: Equatable, Sendable {
        /// Applied (tickets ignored, KeyUpdates taken); `answer`: the peer asked for a
        /// KeyUpdate in return, to be sealed (`keyUpdateAnswer`) before any more data, with the
        /// sending cipher's `update()` right after.
        case applied(answer: Bool)
        /// The messages cannot be taken; `alert` is what their sender gets.
        case failed(RecordFailure)
    }

    /// A KeyUpdate with update_not_requested (content type 22).
    public static let keyUpdateAnswer: [UInt8] = [24, 0, 0, 1, 0]

    /// The length of the whole record at the start of `input`, or 0 while it is incomplete.
    @inline(__always)
    public static func wholeRecord(in input: ByteBuffer) -> Int {
        guard input.readable >= 5 else { return 0 }
        let p = input.readPointer
        let length = 5 + (Int(p.load(fromByteOffset: 3, as: UInt8.self)) << 8 | Int(p.load(fromByteOffset: 4, as: UInt8.self)))
        return input.readable >= length ? length : 0
    }

    /// Takes the TLS 1.3 handshake messages of one record this (receiving) cipher opened:
    /// NewSessionTickets are dropped (OpenSSL no longer sees the session), a KeyUpdate rekeys
    /// this direction. A KeyUpdate must end its record (RFC 8446 5.1: a message that changes keys
    /// is aligned with a record boundary), so a second one, or anything after one, in the same
    /// record is refused. Messages split across records are not supported.
    public func receivePostHandshake(_ bytes: UnsafeRawBufferPointer) -> PostHandshake {
        var i = 0
        var answer = false
        let split = RecordFailure(RecordFailure.internalError,
                                  "a handshake message split across records after the handshake (not supported)")
        while i < bytes.count {
            guard bytes.count - i >= 4 else { return .failed(split) }
            let type = bytes[i]
            let length = Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard bytes.count - i - 4 >= length else { return .failed(split) }
            switch type {
            case 4:
                break
            case 24:
                guard length == 1 else { return .failed(RecordFailure(RecordFailure.decodeError, "malformed KeyUpdate")) }
                guard bytes[i + 4] <= 1 else {
                    return .failed(RecordFailure(RecordFailure.illegalParameter, "KeyUpdate with request_update \(bytes[i + 4])"))
                }
                guard i + 5 == bytes.count else {
                    return .failed(RecordFailure(RecordFailure.unexpectedMessage,
                                                 "a KeyUpdate not at the end of its record (RFC 8446 5.1)"))
                }
                guard update() else { return .failed(RecordFailure(RecordFailure.internalError, "KeyUpdate key derivation failed")) }
                answer = bytes[i + 4] == 1
            default:
                return .failed(RecordFailure(RecordFailure.unexpectedMessage, "handshake message type \(type) after the handshake"))
            }
            i += 4 + length
        }
        return .applied(answer: answer)
    }

    /// The next record in `input`, opened in place (not consumed: `consume(length)` once its
    /// plaintext is no longer needed).
    public enum Next {
        /// Not a whole record yet.
        case incomplete
        /// `count` bytes of content `type` at `plaintext`; the record is `length` bytes.
        case record(type: UInt8, plaintext: UnsafeMutableRawPointer, count: Int, length: Int)
        /// Too long, malformed, or it does not authenticate: the session cannot go on, and
        /// the sender gets `alert`.
        case failed(RecordFailure)
    }

    /// Opens the record at the start of `input` if it is whole.
    @inline(__always)
    public func openNext(in input: ByteBuffer) -> Next {
        guard input.readable >= 5 else { return .incomplete }
        let record = input.readPointer
        let length = 5 + (Int(record.load(fromByteOffset: 3, as: UInt8.self)) << 8
                          | Int(record.load(fromByteOffset: 4, as: UInt8.self)))
        guard length <= RecordCipher.maxRecord else {
            return .failed(RecordFailure(RecordFailure.recordOverflow, "record_overflow: a record of \(length - 5) bytes"))
        }
        guard input.readable >= length else { return .incomplete }
        switch open(record, length: length) {
        case .failed(let why):
            return .failed(why)
        case .record(let type, let offset, let count):
            guard count <= RecordCipher.maxPlaintext else {
                return .failed(RecordFailure(RecordFailure.recordOverflow, "record_overflow: \(count) bytes of plaintext"))
            }
            return .record(type: type, plaintext: record + offset, count: count, length: length)
        }
    }

    /// TLS 1.3 KeyUpdate: the next traffic secret, its key and IV; the sequence starts at 0.
    public func update() -> Bool {
        guard version == 0x0304, !secret.isEmpty,
              let (_, digest, keyLength) = TLSEngine.kernelCipher(cipherSuiteID) else { return false }
        var next = [UInt8](repeating: 0, count: secret.count)
        guard veil_hkdf_expand_label(digest, secret, secret.count, "traffic upd", &next, next.count) == 1,
              let keys = TLSEngine.tls13Keys(next, digest, keyLength) else { return false }
        for i in secret.indices { secret[i] = 0 }
        secret = next
        return veil_record_cipher_rekey(handle, keys.key, keys.iv) == 1
    }

    /// A TLS 1.3 suite with this cipher (for its hash and key length).
    private var cipherSuiteID: UInt16 {
        switch cipher {
        case .aes128gcm: 0x1301
        case .aes256gcm: 0x1302
        case .chacha20poly1305: 0x1303
        }
    }
}
