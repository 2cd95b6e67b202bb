import VeilTLS

/// Where the ECH config for a name comes from, or why there is none (`ResolverChain.echConfig`).
public enum ECHLookup: Sendable, Equatable {
    /// `--ech-config HOST=...` (checked at start-up; wins over DNS).
    case explicit(ECHConfigList)
    /// The `ech` SvcParam of the name's HTTPS record, from `source`.
    case dns(ECHConfigList, record: HTTPSRecord, source: String)
    /// No config: the name publishes no HTTPS record, or none with `ech`, or the resolver cannot
    /// ask (the reason says which).
    case none(String)
    /// The HTTPS record or its ECHConfigList is malformed, or no server could answer.
    case failure(String)

    /// The list to use, if any.
    public var list: ECHConfigList? {
        switch self {
        case .explicit(let l), .dns(let l, _, _): l
        case .none, .failure: nil
        }
    }

    public init(_ https: HTTPSOutcome, host: String) {
        switch https {
        case .failure(let why):
            self = HTTPSOutcome.isUnavailable(why) ? .none(why) : .failure(why)
        case .records(let records, _, let source):
            guard let record = https.echRecord, let bytes = record.params.ech else {
                self = .none(records.isEmpty ? "no HTTPS record (\(source))" : "HTTPS record without ech (\(source))")
                return
            }
            do {
                self = .dns(try ECHConfigList.parse(bytes), record: record, source: source)
            } catch {
                self = .failure("HTTPS record for \(host) from \(source): \(error)")
            }
        }
    }
}
