/// Finds TLS record boundaries in a byte stream that arrives in arbitrary pieces.
///
/// `feed` reports each record when its last byte arrives: its type, length and, when
/// `collectBodies` is on (handshake phase, or when every record is logged), its body.
/// `bytesToBoundary` is how many more bytes end the current record, which is what an
/// exact-record reader asks the socket for.
public struct RecordScanner {
    public struct Record {
        public let header: TLSRecordHeader
        /// The body, when collected.
        public let body: [UInt8]?
    }

    private var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
    private var headerFill = 0
    private var current: TLSRecordHeader?
    private var bodyRemaining = 0
    private var body: [UInt8] = []
    public var collectBodies: Bool

    public init(collectBodies: Bool) {
        self.collectBodies = collectBodies
    }

    /// Bytes that complete the current record (its header first).
    public var bytesToBoundary: Int {
        current == nil ? TLSRecordHeader.size - headerFill : bodyRemaining
    }

    /// True between records.
    public var atBoundary: Bool { current == nil && headerFill == 0 }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer,
                              _ emit: (Record) throws(TLSParseError) -> Void) throws(TLSParseError) {
        var i = 0
        while i < bytes.count {
            if current == nil {
                withUnsafeMutableBytes(of: &header) { $0[headerFill] = bytes[i] }
                headerFill += 1
                i += 1
                if headerFill == TLSRecordHeader.size {
                    let h = try withUnsafeBytes(of: header) { raw throws(TLSParseError) in try TLSRecordHeader(bytes: raw) }
                    headerFill = 0
                    current = h
                    bodyRemaining = h.length
                    if collectBodies { body.removeAll(keepingCapacity: true); body.reserveCapacity(h.length) }
                }
            } else {
                let n = min(bodyRemaining, bytes.count - i)
                if collectBodies { body.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[i..<(i + n)])) }
                bodyRemaining -= n
                i += n
            }
            if let h = current, bodyRemaining == 0 {
                current = nil
                try emit(Record(header: h, body: collectBodies ? body : nil))
            }
        }
    }
}
