import VeilRuntime

/// Formats the `record` log line written for each TLS record the proxy sees.
///
/// Text: `record conn=7 t=0.000412 dir=client->proxy type=handshake len=512 msgs="ClientHello sni=..."`
/// (messages joined with `; `; `opaque=true` instead of `msgs` for encrypted records).
/// JSON: `{"event":"record","conn":7,"t":0.000412,"dir":"client->proxy","type":"handshake","len":512,"msgs":[...]}`.
/// `msgs` is omitted when the record completed no message (e.g. change_cipher_spec or a partial message).
public enum RecordLogFormatter {
    /// One newline-terminated log line for `summary`.
    /// - Parameter elapsedNanos: time since the connection was accepted; written in seconds with 6 decimals.
    public static func line(format: LogFormat, connection: UInt64, elapsedNanos: UInt64,
                            direction: RecordDirection, summary: TLSRecordSummary) -> String {
        var line = LogLine(event: "record", format: format)
        line.field("conn", connection)
        line.field("t", seconds: elapsedNanos, decimals: 6)
        line.field("dir", direction.rawValue)
        line.field("type", summary.contentType.name)
        line.field("len", summary.length)
        if summary.isOpaque {
            line.field("opaque", true)
        } else if !summary.messages.isEmpty {
            switch format {
            case .text: line.field("msgs", summary.messages.joined(separator: "; "))
            case .json: line.field("msgs", list: summary.messages)
            }
        }
        return line.finish()
    }
}
