/// Why a header block could not be decoded (each is a COMPRESSION_ERROR for the connection,
/// RFC 9113 section 4.3). The decoder's state is undefined after one: drop the connection.
public enum HPACKError: Error, Equatable, Sendable {
    /// The block ends inside a prefixed integer (RFC 7541 section 5.1).
    case truncatedInteger
    /// A prefixed integer is larger than HPACKInteger.maximum, or uses more continuation octets
    /// than such a value needs.
    case integerOverflow
    /// The block ends before the octets a string literal announces (section 5.2).
    case truncatedString
    /// A Huffman-coded string ends with more than 7 bits of padding, or padding that is not the
    /// most significant bits of EOS (all ones) (section 5.2).
    case invalidHuffmanPadding
    /// A Huffman-coded string contains the EOS symbol (section 5.2).
    case huffmanEOS
    /// A string is not UTF-8 text.
    case invalidText
    /// An indexed representation with index 0 (section 6.1).
    case indexZero
    /// An index past the static and dynamic tables (section 2.3.3).
    case indexOutOfRange(Int)
    /// A dynamic table size update above the limit the decoder announced (section 6.3).
    case tableSizeUpdateTooLarge(Int)
    /// A dynamic table size update after a header field (section 4.2: only at the block's start).
    case tableSizeUpdateNotAtStart
    /// The decoded header list is larger than the decoder's maxHeaderListSize (name + value + 32
    /// per field, RFC 9113 section 6.5.2).
    case headerListTooLarge
}
