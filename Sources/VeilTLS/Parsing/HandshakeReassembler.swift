/// Reassembles handshake messages from the bodies of consecutive plaintext handshake records of one
/// direction. A message may span several records and one record may hold several messages.
///
/// Memory is bounded: a message declaring more than `maxMessageLength` bytes is rejected as soon as its
/// header is seen, and `append` refuses to grow the buffer when it already holds a whole maximal message
/// that the caller has not pulled, so at most `maxMessageLength + 4` bytes plus one appended record
/// body are ever buffered.
public struct HandshakeReassembler: Sendable {
    /// The largest accepted handshake message body.
    public let maxMessageLength: Int

    private var buffer: [UInt8] = []
    private var readIndex = 0

    /// - Parameter maxMessageLength: largest accepted message body (clamped to the 24-bit field's range).
    public init(maxMessageLength: Int = 131072) {
        self.maxMessageLength = min(max(0, maxMessageLength), 0xFF_FFFF)
    }

    /// Bytes received but not yet returned as part of a message.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// True when no partial message is pending (all appended bytes were returned as messages).
    public var isEmpty: Bool { bufferedByteCount == 0 }

    /// Appends the body of one handshake record.
    public mutating func append(_ body: some Collection<UInt8>) throws(TLSParseError) {
        guard bufferedByteCount <= maxMessageLength + HandshakeMessage.headerSize else {
            throw .malformed("handshake buffer full: messages were not pulled")
        }
        if readIndex > 0 {
            buffer.removeFirst(readIndex)
            readIndex = 0
        }
        buffer.append(contentsOf: body)
        if let length = pendingLength(), length > maxMessageLength {
            throw .messageTooLarge(length)
        }
    }

    /// The next complete message, or nil when more bytes are needed.
    public mutating func nextMessage() throws(TLSParseError) -> HandshakeMessage? {
        guard let length = pendingLength() else { return nil }
        guard length <= maxMessageLength else { throw .messageTooLarge(length) }
        let start = readIndex + HandshakeMessage.headerSize
        guard buffer.count - start >= length else { return nil }
        let message = HandshakeMessage(type: buffer[readIndex], body: Array(buffer[start..<start + length]))
        readIndex = start + length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 2 * TLSRecordHeader.maxLength)
            readIndex = 0
        }
        return message
    }

    /// The declared body length of the first pending message, if its header is complete.
    private func pendingLength() -> Int? {
        guard buffer.count - readIndex >= HandshakeMessage.headerSize else { return nil }
        return Int(buffer[readIndex + 1]) << 16 | Int(buffer[readIndex + 2]) << 8 | Int(buffer[readIndex + 3])
    }
}
