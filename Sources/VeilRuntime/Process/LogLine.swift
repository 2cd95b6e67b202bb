/// Output format of every log line Veil writes.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `event key=value key="quoted value"`
    case text
    /// One JSON object per line (JSON Lines): `{"event":"...","key":value}`.
    case json
}

/// Builds one log line in either format without Foundation. Values are appended in order.
///
///     var line = LogLine(event: "summary", format: .text)
///     line.field("conn", 12)
///     line.field("target", "example.com:443")
///     line.finish()   // "summary conn=12 target=example.com:443\n"
public struct LogLine: Sendable {
    public let format: LogFormat
    public private(set) var text: String

    public init(event: String, format: LogFormat) {
        self.format = format
        switch format {
        case .text: text = event
        case .json:
            text = "{\"event\":"
            LogLine.appendJSONString(event, to: &text)
        }
    }

    /// A string value. In text it is quoted when it holds spaces, quotes, `=` or is empty.
    public mutating func field(_ key: String, _ value: String) {
        switch format {
        case .text:
            text += " " + key + "="
            if LogLine.needsQuotes(value) {
                text += "\""
                for ch in value.unicodeScalars {
                    switch ch {
                    case "\"": text += "\\\""
                    case "\\": text += "\\\\"
                    case "\n": text += "\\n"
                    case "\r": text += "\\r"
                    case "\t": text += "\\t"
                    default:
                        if ch.value < 0x20 || ch.value == 0x7f {
                            text += "\\x" + LogLine.hex2(UInt8(ch.value))
                        } else {
                            text.unicodeScalars.append(ch)
                        }
                    }
                }
                text += "\""
            } else {
                text += value
            }
        case .json:
            text += ",\""
            text += key
            text += "\":"
            LogLine.appendJSONString(value, to: &text)
        }
    }

    /// An optional string: absent values are written as `-` in text and `null` in JSON.
    public mutating func field(_ key: String, _ value: String?) {
        if let value {
            field(key, value)
        } else {
            switch format {
            case .text: text += " " + key + "=-"
            case .json: text += ",\"" + key + "\":null"
            }
        }
    }

    public mutating func field<I: BinaryInteger>(_ key: String, _ value: I) {
        switch format {
        case .text: text += " " + key + "=" + String(value)
        case .json: text += ",\"" + key + "\":" + String(value)
        }
    }

    public mutating func field(_ key: String, _ value: Bool) {
        switch format {
        case .text: text += " " + key + "=" + (value ? "true" : "false")
        case .json: text += ",\"" + key + "\":" + (value ? "true" : "false")
        }
    }

    /// An optional boolean: `-` in text and `null` in JSON when absent.
    public mutating func field(_ key: String, _ value: Bool?) {
        if let value {
            field(key, value)
        } else {
            switch format {
            case .text: text += " " + key + "=-"
            case .json: text += ",\"" + key + "\":null"
            }
        }
    }

    /// A duration or time offset in seconds with a fixed number of decimals (no exponent).
    public mutating func field(_ key: String, seconds nanoseconds: UInt64, decimals: Int = 6) {
        let scale = (0..<(9 - decimals)).reduce(UInt64(1)) { acc, _ in acc * 10 }
        let rounded = (nanoseconds + scale / 2) / scale
        var divisor: UInt64 = 1
        for _ in 0..<decimals { divisor *= 10 }
        var frac = String(rounded % divisor)
        while frac.count < decimals { frac = "0" + frac }
        let number = String(rounded / divisor) + (decimals > 0 ? "." + frac : "")
        switch format {
        case .text: text += " " + key + "=" + number
        case .json: text += ",\"" + key + "\":" + number
        }
    }

    /// A list of strings: comma-joined in text, a JSON array in JSON.
    public mutating func field(_ key: String, list: [String]) {
        switch format {
        case .text: field(key, list.joined(separator: ","))
        case .json:
            text += ",\"" + key + "\":["
            for (i, v) in list.enumerated() {
                if i > 0 { text += "," }
                LogLine.appendJSONString(v, to: &text)
            }
            text += "]"
        }
    }

    /// The finished line, newline-terminated.
    public func finish() -> String {
        switch format {
        case .text: return text + "\n"
        case .json: return text + "}\n"
        }
    }

    static func needsQuotes(_ value: String) -> Bool {
        if value.isEmpty { return true }
        for b in value.utf8 where b <= 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "=") || b == 0x7f || b == UInt8(ascii: "\\") {
            return true
        }
        return false
    }

    static func hex2(_ b: UInt8) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(decoding: [digits[Int(b >> 4)], digits[Int(b & 0xf)]], as: UTF8.self)
    }

    static func appendJSONString(_ s: String, to out: inout String) {
        out += "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if ch.value < 0x20 || ch.value == 0x7f {
                    out += "\\u00" + hex2(UInt8(ch.value))
                } else {
                    out.unicodeScalars.append(ch)
                }
            }
        }
        out += "\""
    }
}
