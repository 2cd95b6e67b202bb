import VeilResolver
import VeilTLS

/// What the upstream leg of one intercepted connection does about Encrypted Client Hello,
/// decided in the request phase from `--ech`/`--ech-rule` and the name's config
/// (`ResolverChain.echConfig`), before the connect.
enum UpstreamECH: Sendable {
    /// No ECH extension at all (`--ech off`, or a pass-through / relay-tunnelled connection).
    case off
    /// ECH enabled, no usable config for the name (why): a GREASE extension, the SNI policy.
    case grease(String)
    /// ECH with this config (`source`: `--ech-config` or the HTTPS record's resolver).
    case config(ECHConfigList.Selection, source: String)

    /// The decision for `host` under `mode` with `lookup`: what the upstream leg does, or (for
    /// `--ech require` without a usable config) the 502's reason.
    static func decide(mode: ECHMode, lookup: ECHLookup?, host: String) -> Result<UpstreamECH, ECHRefusal> {
        if mode == .off { return .success(.off) }
        let why: String
        switch lookup {
        case .explicit(let list)?:
            do throws(ECHConfigError) {
                return .success(.config(try list.selection(), source: explicitSource))
            } catch {
                why = "--ech-config: \(error)"
            }
        case .dns(let list, _, let source)?:
            do throws(ECHConfigError) {
                return .success(.config(try list.selection(), source: source))
            } catch {
                why = "HTTPS record from \(source): \(error)"
            }
        case .none(let reason)?: why = reason
        case .failure(let reason)?: why = reason
        case nil: why = "no ECH config was looked up"
        }
        guard mode == .require else { return .success(.grease(why)) }
        return .failure(ECHRefusal(reason:
            "--ech require: \(host) has no usable ECH config (\(why)); not connected, so its name was not sent in clear. Pass one with --ech-config \(host)=BASE64|@FILE, or allow this host without ECH (--ech-rule \(host)=auto)"))
    }

    /// The source of an `--ech-config` entry.
    static let explicitSource = "--ech-config"

    /// The `ech=` token of the summary line before the handshake tells more.
    var token: String {
        switch self {
        case .off: "off"
        case .grease: "grease"
        case .config: "offered"
        }
    }
}

/// `--ech require` and no usable config: the 502's reason.
struct ECHRefusal: Error, Equatable {
    let reason: String
}
