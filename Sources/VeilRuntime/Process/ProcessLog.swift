#if canImport(Glibc)
import Glibc
#endif

/// The lines Veil writes about itself on stderr (start-up, warnings, signals, shutdown figures),
/// in the log format of the record and summary lines: text as written (`veil: ...`), or with
/// `--log-format json` one object per line,
/// `{"event":"veil","level":"warning","msg":"listening on 0.0.0.0:8080, which is not loopback"}`.
public struct ProcessLog: Sendable {
    public let format: LogFormat

    public init(format: LogFormat) {
        self.format = format
    }

    /// Writes `text` (a whole text line such as `veil: warning: ...`, without the newline).
    public func say(_ text: String) {
        let line = ProcessLog.line(text, format: format)
        _ = line.withCString { write(2, $0, strlen($0)) }
    }

    /// The line for `text` in `format`, newline-terminated. In JSON the program prefix
    /// (`veil: `, `veil relay: `, `veil 0.1.0: `) is dropped from `msg`, and a message that
    /// starts with `warning:` (any case) or `error:` sets `level` and loses that word.
    public static func line(_ text: String, format: LogFormat) -> String {
        guard format == .json else { return text + "\n" }
        var msg = Substring(text)
        if msg.hasPrefix("veil"), let colon = msg.firstIndex(of: ":"), !msg[..<colon].contains("=") {
            msg = msg[msg.index(after: colon)...].drop { $0 == " " }
        }
        var level = "info"
        for word in ["warning", "error"] where msg.lowercased().hasPrefix(word + ":") {
            level = word
            msg = msg.dropFirst(word.count + 1).drop { $0 == " " }
        }
        var l = LogLine(event: "veil", format: .json)
        l.field("level", level)
        l.field("msg", String(msg))
        return l.finish()
    }
}
