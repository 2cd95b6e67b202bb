import VeilWire
import VeilRuntime
import VeilTLS

extension DNSServer {
    /// `--resolver relay`: names answered by the Veil relay over its TLS channel. The relay's
    /// certificate is pinned by fingerprint (checked before the secret is sent); the answer
    /// comes from the relay's own resolver chain.
    public init(relay: RelayEndpoint) {
        self.init(kind: .relay, address: relay.address, verifyName: relay.address.ipString, path: "", authority: "",
                  description: "relay \(relay.address)", relay: relay)
    }

    /// One `RESOLVE host:port` over a fresh, pinned connection to the relay (`https`: asking
    /// for the name's HTTPS records too).
    func askRelay(host: String, port: UInt16, https: Bool = false, context: TLSContext,
                  timeout: Double) throws(BlockingTLSConnection.Failure) -> RelayResolution.ParseResult {
        guard let relay else { throw .init("not a relay") }
        let c = try BlockingTLSConnection(address: address, verifyName: verifyName, alpn: [], context: context,
                                          timeout: timeout, pinnedSHA256: relay.fingerprint)
        try c.write(RelayResolution.request(host: host, port: port, secret: relay.secret, https: https))
        var got: [UInt8] = []
        while true {
            let more = try c.read()
            if more.isEmpty { return RelayResolution.parse(got, ended: true) }
            got += more
            guard got.count <= 16 << 10 else { throw .init("answer too large") }
            let r = RelayResolution.parse(got)
            if r != .needMore { return r }
        }
    }
}
