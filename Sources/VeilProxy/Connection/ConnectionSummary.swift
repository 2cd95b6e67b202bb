import VeilResolver
import VeilWire
import VeilRuntime

/// What the one summary line of a connection says. Filled in as the connection progresses.
struct ConnectionSummary {
    enum DataPath: String, CaseIterable {
        case splice
        case userspace
        case ktlsSplice = "ktls-splice"
        /// On kTLS without splice: the kernel encrypts and decrypts, Veil copies plaintext (the
        /// HTTPS listener's outer session; one kTLS leg beside a userspace one).
        case ktls
    }

    let id: UInt64
    let started: UInt64
    var client: String
    /// The proxy user who authenticated (`--auth`).
    var user: String?
    var target: String?
    var sni: String?
    /// What Veil's own upstream ClientHello carried (intercept); "-" when omitted.
    var upstreamSNI: String?
    var clientTLS: String?
    var clientCipher: String?
    var resumed: Bool?
    var clientResumed: Bool?
    /// Intercept: how each leg's application data moved (ktls-splice or userspace).
    var clientPath: DataPath?
    var upstreamPath: DataPath?
    /// Intercept: why kTLS was not used, when it was wanted.
    var ktlsNote: String?
    /// Intercept, userspace relay: who protected records after the handshakes (veil or openssl),
    /// and why not Veil's own record layer when it was wanted.
    var records: String?
    var recordsNote: String?
    /// Encrypted Client Hello upstream: accepted, rejected, grease, offered (no verdict yet) or
    /// off; and the name in clear in the upstream ClientHello (the config's public name with
    /// ECH, else what --sni sent, "-" for none). At the end of the line.
    var ech: String?
    var outerSNI: String?
    /// Why the ECH lookup's answer was not used although ECH was wanted (`ech_note=`: it came
    /// too late under `--ech auto`).
    var echNote: String?
    /// The client's ClientHello to Veil carried an ECH extension (intercept; `client_ech=yes`).
    var clientECH = false
    /// The upstream handshake was retried once with a fresh ECH config (`ech_retry=yes`).
    var echRetried = false
    /// Whether the upstream certificate was verified (false only with --insecure-upstream).
    var verified = true
    /// What the connection turned out to be: `intercept`, `passthrough`, or `http` (a
    /// plain-http request forwarded).
    enum Mode: String {
        case intercept, passthrough, http

        init(_ mode: ProxyMode) {
            switch mode {
            case .intercept: self = .intercept
            case .passthrough: self = .passthrough
            }
        }
    }

    var mode: Mode
    var tlsVersion: String?
    var cipher: String?
    var alpn: String?
    var upstreamAddress: String?
    /// `tunnel` when the upstream went through the Veil relay at `relay`.
    var route: Route?
    var relay: String?
    /// How the TLS to the relay moved (`ktls` or `userspace`), and why not kTLS when wanted.
    var tunnelPath: DataPath?
    var tunnelNote: String?
    /// In userspace: who protected the tunnel's records (veil or openssl), and why not veil.
    var tunnelRecords: String?
    var tunnelRecordsNote: String?
    /// How the relay's side of the tunnel's TLS ended (see StreamEnd).
    var tunnelEnd: StreamEnd?
    /// `--relay-mux on`: the relay connection's id, the streams open on it when this tunnel was
    /// answered (this one included), and why the stream failed after its 200.
    var relayConn: UInt64?
    var relayStreams: Int?
    var relayError: String?
    var path: DataPath?
    /// How each side's stream towards Veil ended (see StreamEnd); nil while it has not.
    var clientEnd: StreamEnd?
    var upstreamEnd: StreamEnd?
    var bytesUp: UInt64 = 0
    var bytesDown: UInt64 = 0
    var close: CloseReason?
    /// Set when the client came through the HTTPS proxy listener.
    var front: FrontInfo?

    init(id: UInt64, started: UInt64, client: String, mode: ProxyMode) {
        self.id = id
        self.started = started
        self.client = client
        self.mode = Mode(mode)
    }

    func line(format: LogFormat, now: UInt64) -> String {
        var l = LogLine(event: "summary", format: format)
        l.field("conn", id)
        l.field("client", client)
        if let user { l.field("user", user) }
        if let front {
            l.field("front_tls", front.tls)
            l.field("front_cipher", front.cipher)
            if let alpn = front.alpn { l.field("front_alpn", alpn) }
            if let stream = front.h2Stream { l.field("h2_stream", stream) }
            l.field("front_path", front.path?.rawValue)
            if let note = front.note { l.field("front_ktls", note) }
            if let records = front.records { l.field("front_records", records) }
            if let note = front.recordsNote { l.field("front_records_note", note) }
            if front.path != nil { l.field("front_end", front.end?.token) }
        }
        l.field("target", target)
        l.field("upstream", upstreamAddress)
        if let route {
            l.field("route", route.rawValue)
            l.field("relay", relay)
            if route == .tunnel {
                l.field("tunnel_path", tunnelPath?.rawValue)
                if let tunnelNote { l.field("tunnel_ktls", tunnelNote) }
                if let tunnelRecords { l.field("tunnel_records", tunnelRecords) }
                if let tunnelRecordsNote { l.field("tunnel_records_note", tunnelRecordsNote) }
                if tunnelPath != nil { l.field("tunnel_end", tunnelEnd?.token) }
                if let relayConn { l.field("relay_conn", relayConn) }
                if let relayStreams { l.field("relay_streams", relayStreams) }
                if let relayError { l.field("relay_error", relayError) }
            }
        }
        l.field("sni", sni)
        if mode == .intercept { l.field("upstream_sni", upstreamSNI) }
        l.field("mode", mode.rawValue)
        l.field("tls", tlsVersion)
        l.field("cipher", cipher)
        l.field("alpn", alpn)
        if mode == .intercept {
            l.field("client_tls", clientTLS)
            l.field("client_cipher", clientCipher)
            l.field("resumed", resumed)
            l.field("client_resumed", clientResumed)
            l.field("client_path", clientPath?.rawValue)
            l.field("upstream_path", upstreamPath?.rawValue)
            if let ktlsNote { l.field("ktls", ktlsNote) }
            l.field("records", records)
            if let recordsNote { l.field("records_note", recordsNote) }
            if !verified { l.field("upstream_verify", "OFF") }
        }
        l.field("path", path?.rawValue)
        l.field("bytes_up", bytesUp)
        l.field("bytes_down", bytesDown)
        if path != nil || clientEnd != nil || upstreamEnd != nil {
            l.field("client_end", clientEnd?.token)
            l.field("upstream_end", upstreamEnd?.token)
        }
        l.field("duration", seconds: now &- started, decimals: 6)
        l.field("close", close?.kind.rawValue ?? "error")
        l.field("reason", close?.reason ?? "unknown")
        if let ech { l.field("ech", ech) }
        if let outerSNI { l.field("outer_sni", outerSNI) }
        if let echNote { l.field("ech_note", echNote) }
        if echRetried { l.field("ech_retry", "yes") }
        if clientECH { l.field("client_ech", "yes") }
        return l.finish()
    }
}
