internal import COpenSSL

/// A failed OpenSSL call: what was attempted, and the entries of the thread's OpenSSL error
/// queue at that moment, e.g.
/// `handshake: error:0A000086:SSL routines::certificate verify failed`.
public struct OpenSSLError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What was attempted (`"X509_sign"`, `"loading ca-key.pem"`, ...).
    public let context: String
    /// The queued errors, oldest first, as `error:XXXXXXXX:library::reason` strings (plus any
    /// additional data OpenSSL attached, after a colon). Empty when the queue was empty.
    public let errors: [String]

    public init(context: String, errors: [String] = []) {
        self.context = context
        self.errors = errors
    }

    public var description: String {
        errors.isEmpty ? context : "\(context): \(errors.joined(separator: "; "))"
    }

    /// Empties the calling thread's OpenSSL error queue into an error for `context`.
    public static func drain(_ context: String) -> OpenSSLError {
        OpenSSLError(context: context, errors: drainQueue())
    }

    /// Empties the calling thread's error queue, returning its entries (oldest first).
    @discardableResult
    static func drainQueue() -> [String] {
        var errors: [String] = []
        while true {
            var data: UnsafePointer<CChar>?
            var flags: Int32 = 0
            let code = ERR_get_error_all(nil, nil, nil, &data, &flags)
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            var text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) },
                              as: UTF8.self)
            if flags & ERR_TXT_STRING != 0, let data, data.pointee != 0 {
                text += " (\(String(cString: data)))"
            }
            errors.append(text)
        }
        return errors
    }
}
