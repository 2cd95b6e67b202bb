/// Where a setting is listed: a group of `--help`, a part of conf/veil.conf.
public enum SettingSection: String, Sendable, CaseIterable {
    case listeners, interception, names, logs, access, capacity, relayClient, relayServer

    /// The `--help` group title and the conf/veil.conf heading.
    public var title: String {
        switch self {
        case .listeners: "Listeners"
        case .interception: "Interception"
        case .names: "Names"
        case .logs: "Logs and metrics"
        case .access: "Access"
        case .capacity: "Capacity and timeouts"
        case .relayClient: "The Veil relay"
        case .relayServer: "Relay"
        }
    }

    /// What conf/veil.conf says before the section's settings.
    var intro: String? {
        switch self {
        case .names:
            """
            Names not in the static map (`resolve`) are answered by the resolvers, in order: doh \
            (DNS over HTTPS, RFC 8484, to each doh-url), dot (DNS over TLS, RFC 7858, to each \
            dot-server), relay (the Veil relay, over its pinned TLS), lists such as doh,dot or \
            relay,doh (the next is asked only when one cannot answer; "no such name" is final), \
            static (the `resolve` entries only) or system (getaddrinfo: plain DNS that everyone on \
            your network can read). A resolver's host must be an IP address (or a `resolve` \
            entry): finding it must not leak.
            """
        case .access:
            """
            Patterns: *, example.com, *.example.com (subdomains only), .example.com (apex and \
            subdomains), 10.0.0.0/8, [::1]; with :PORTS, 443, 8000-9000 or *.
            """
        case .relayClient:
            """
            Route through the Veil relay (veil relay, run outside the observed network): the local \
            network then sees only TLS to the relay, neither the target's name nor its address.
            """
        default: nil
        }
    }
}
