import VeilWire
/// How to fix a failed lookup, for each kind of resolver: appended to the failure reason (the
/// `502` body, the summary line's `reason=`, `veil resolve`'s output) after `; to fix: `, and
/// naming the flags (config keys are the same names without `--`).
///
///     cannot resolve example.com: doh https://1.1.1.1/dns-query: connect 1.1.1.1:443: Network is
///     unreachable; to fix: another DoH server (--doh-url https://IP/dns-query), DoT (--resolver
///     dot, or doh,dot to fall back to it), a fixed address (--resolve example.com:443:ADDR), or
///     plain DNS (--resolver system, visible on the network)
public enum ResolveAdvice {
    /// Separates the reason from the advice.
    public static let marker = "; to fix: "

    /// The list of per-server problems is cut so that the advice still fits the error body
    /// (`HTTPStatusResponse.maxReasonLength`, 1024), but never below this many characters.
    static let minProblemsLength = 80

    /// `reason` without the advice a resolver appended (e.g. the relay's, which names the relay's
    /// own flags).
    public static func withoutAdvice(_ reason: String) -> String {
        let text = Array(reason.utf8), m = Array(marker.utf8)
        guard text.count >= m.count else { return reason }
        for i in 0...(text.count - m.count) where text[i..<(i + m.count)].elementsEqual(m) {
            return String(decoding: text[..<i], as: UTF8.self)
        }
        return reason
    }

    /// No resolver but the static map, and no entry for the name.
    static func staticOnly(host: String, port: UInt16) -> String {
        "cannot resolve \(host): no --resolve entry for \(host):\(port) and --resolver static"
            + marker + "add one (--resolve \(host):\(port):ADDR), or let a resolver answer the names not mapped: --resolver doh (DNS over HTTPS), dot (DNS over TLS) or system (plain DNS, visible on the network)"
    }

    /// The name does not exist, or has no addresses, according to the resolver that answered.
    static func noSuchName(_ reason: String, host: String, port: UInt16) -> String {
        reason + marker + "check the name; a name that only your network's DNS knows needs --resolve \(host):\(port):ADDR (Veil never asks the local DNS unless --resolver system)"
    }

    /// Every encrypted server (DoH, DoT, relay) failed: unreachable, silent, refusing, or not
    /// answering DNS.
    static func serversFailed(host: String, port: UInt16, kinds: [DNSServer.Kind], problems: [String]) -> String {
        var fixes: [String] = []
        if kinds.contains(.relay) {
            fixes.append("check the relay: veil relay running at --relay IP:PORT, --relay-fingerprint and the secret as it printed and uses (a 502 from it is its own resolver's failure)")
            if kinds.count == 1 { fixes.append("fall back to DoH (--resolver relay,doh)") }
        }
        if kinds.contains(.doh) {
            fixes.append("another DoH server (--doh-url https://IP/dns-query)")
        }
        if kinds.contains(.dot) {
            fixes.append("another DoT server (--dot-server IP[:PORT][#NAME])")
        }
        if !kinds.contains(.dot) && kinds.contains(.doh) {
            fixes.append("DoT (--resolver dot, or doh,dot to fall back to it)")
        }
        if !kinds.contains(.doh) && kinds.contains(.dot) {
            fixes.append("DoH (--resolver doh, or dot,doh to fall back to it)")
        }
        let serverProblems = problems.filter { $0.hasPrefix("doh ") || $0.hasPrefix("dot ") }
        if serverProblems.contains(where: { $0.contains("certificate") || $0.contains("hostname mismatch") }) {
            fixes.append("for a server whose certificate comes from your own CA, --resolver-ca FILE (the name it must carry: --dot-server IP#NAME, or a --doh-url name mapped with --resolve)")
        }
        fixes.append("a fixed address (--resolve \(host):\(port):ADDR)")
        fixes.append("or plain DNS (--resolver system, visible on the network)")
        let head = "cannot resolve \(host): ", advice = marker + fixes.joined(separator: ", ")
        // The list of problems gives way (ending in "...") so that the advice fits the body.
        let room = max(minProblemsLength, HTTPStatusResponse.maxReasonLength - head.count - advice.count)
        var list = problems.joined(separator: "; ")
        if list.count > room { list = String(list.prefix(room - 3)) + "..." }
        return head + list + advice
    }

    /// getaddrinfo failed (`--resolver system`).
    static func systemFailed(_ reason: String, host: String, port: UInt16) -> String {
        reason + marker + "check the name and this host's DNS (/etc/resolv.conf), or give the address (--resolve \(host):\(port):ADDR), or resolve over DoH (--resolver doh) or DoT (--resolver dot)"
    }
}
