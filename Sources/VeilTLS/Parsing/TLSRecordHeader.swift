/// The 5-byte header in front of every TLS record: type, legacy version, length.
public struct TLSRecordHeader: Sendable, Hashable {
    /// Bytes in a record header.
    public static let size = 5
    /// Largest record body accepted: 2^14 plaintext plus the 2048 bytes of expansion TLS 1.2 allows.
    public static let maxLength = 16384 + 2048

    public var contentType: TLSContentType
    /// The record-layer version (0x0301 or 0x0303 in practice; frozen at 0x0303 by TLS 1.3).
    public var legacyVersion: UInt16
    /// Length of the record body that follows the header.
    public var length: Int

    /// A header from already-validated values.
    public init(contentType: TLSContentType, legacyVersion: UInt16, length: Int) {
        self.contentType = contentType
        self.legacyVersion = legacyVersion
        self.length = length
    }

    /// Parses the first 5 bytes of `bytes` (anything after them is ignored).
    ///
    /// A non-TLS first byte is reported as soon as one byte is available, so a caller can reject plain
    /// HTTP without waiting for five bytes.
    public init(bytes: some Collection<UInt8>) throws(TLSParseError) {
        var iterator = bytes.makeIterator()
        guard let first = iterator.next() else { throw .truncated("record header") }
        guard let type = TLSContentType(rawValue: first) else { throw .notTLS(firstByte: first) }
        guard let major = iterator.next(), let minor = iterator.next(),
              let high = iterator.next(), let low = iterator.next()
        else { throw .truncated("record header") }
        let version = UInt16(major) << 8 | UInt16(minor)
        guard major == 3 else { throw .badVersion(version) }
        let length = Int(high) << 8 | Int(low)
        guard length <= TLSRecordHeader.maxLength else { throw .recordTooLong(length) }
        if length == 0 {
            switch type {
            case .handshake, .alert, .changeCipherSpec: throw .emptyRecord(type)
            case .applicationData, .heartbeat: break
            }
        }
        self.init(contentType: type, legacyVersion: version, length: length)
    }

    /// The five header bytes.
    public func encoded() -> [UInt8] {
        let h = TLSRecordHeader.encode(type: contentType, version: legacyVersion, length: length)
        return [h.0, h.1, h.2, h.3, h.4]
    }

    /// The five bytes of a header, without allocating. `length` must be in `0...0xFFFF`.
    public static func encode(type: TLSContentType, version: UInt16, length: Int)
        -> (UInt8, UInt8, UInt8, UInt8, UInt8)
    {
        precondition(length >= 0 && length <= 0xFFFF, "TLS record length out of range")
        return (type.rawValue, UInt8(version >> 8), UInt8(version & 0xff),
                UInt8(length >> 8), UInt8(length & 0xff))
    }
}
