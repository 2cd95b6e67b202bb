import VeilWire
import VeilRuntime
import VeilTLS

extension DNSServer {
    /// `--resolver relay`: names answered by the Veil relay over its TLS channel. The relay's
    /// certificate is pinned by fingerprint (checked before the secret is sent); the answer
    /// comes from the relay's own resolver chain. `index`: the relay's place among the
    /// configured relays (what a `RelayQueryCarrier` is told).
    public init(relay: RelayEndpoint, index: Int = 0) {
        self.init(kind: .relay, address: relay.address, verifyName: relay.address.ipString, path: "", authority: "",
                  description: "relay \(relay.address)", relay: relay, relayIndex: index)
    }

    /// One `RESOLVE host:port` (`https`: asking for the name's HTTPS records too): on the
    /// carrier's connection when there is one (`loopIndex`: the loop that asked), else over a
    /// fresh, pinned connection to the relay.
    func askRelay(host: String, port: UInt16, https: Bool = false, context: TLSContext, timeout: Double,
                  carrier: (any RelayQueryCarrier)? = nil,
                  loopIndex: Int? = nil) throws(BlockingTLSConnection.Failure) -> RelayResolution.ParseResult {
        guard let relay else { throw .init("not a relay") }
        if let carried = carrier?.resolve(relay: relayIndex, host: host, port: port, https: https, loopIndex: loopIndex,
                                          timeout: timeout) {
            switch carried {
            case .success(let answer): return answer
            case .failure(let why): throw .init(why.description)
            }
        }
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
