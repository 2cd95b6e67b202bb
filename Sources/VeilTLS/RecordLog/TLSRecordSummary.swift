/// What `TLSFlowTracker` learned from one record; the input of `RecordLogFormatter`.
public struct TLSRecordSummary: Sendable, Hashable {
    public var contentType: TLSContentType
    /// Length of the record body.
    public var length: Int
    /// One description per handshake message completed by this record, e.g. `Certificate` or
    /// `ClientHello sni=... alpn=... versions=... ech=no`; for a plaintext alert its summary.
    public var messages: [String]
    /// True when the body is encrypted (or otherwise not inspected).
    public var isOpaque: Bool
    /// The alert, for a plaintext alert record.
    public var alert: TLSAlert?

    public init(contentType: TLSContentType, length: Int, messages: [String] = [], isOpaque: Bool = false,
                alert: TLSAlert? = nil) {
        self.contentType = contentType
        self.length = length
        self.messages = messages
        self.isOpaque = isOpaque
        self.alert = alert
    }
}
