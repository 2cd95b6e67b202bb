/// One header field of an HTTP/2 header block (RFC 7541 section 1.3): a name and a value.
/// Names are lowercase on the wire in HTTP/2; HPACK itself treats both as octet strings, and Veil
/// holds them as UTF-8 text (a block carrying other octets is refused: HPACKError.invalidText).
public struct HPACKHeader: Equatable, Sendable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Its size as RFC 7541 section 4.1 counts it (for the dynamic table) and as RFC 9113
    /// section 6.5.2 counts it for SETTINGS_MAX_HEADER_LIST_SIZE: name + value + 32 octets.
    var hpackSize: Int { name.utf8.count + value.utf8.count + 32 }
}
