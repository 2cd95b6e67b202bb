import VeilResolver
import VeilWire
import VeilRuntime

/// `veil relay`: `RESOLVE host:port` (admitted by the relay gate like CONNECT: secret, rate
/// limits, ports) goes through the same `resolve` as CONNECT; `resolved` hands the outcome here,
/// and the answer is sent before the connection closes.
/// Answers are not filtered for private addresses: the client decides what to do with them.
extension Connection {
    func answerResolve(_ outcome: ResolveOutcome) {
        switch outcome {
        case .failure(let reason):
            reply(.badGateway, CloseReason(.resolveFailed, reason))
        case .success(let answer):
            let host = request?.target.host ?? ""
            let addresses = answer.addresses.map(\.ipString)
            let bytes = RelayResolution.response(addresses: addresses, ttl: ttlHint(host),
                                                 source: answer.source,
                                                 httpVersion: request?.httpVersion ?? "HTTP/1.1")
            pendingClose = CloseReason(.ok, "resolved to \(addresses.joined(separator: " ")) from \(answer.source)")
            stageResponse(bytes)
            phase = .replying
            armDeadline(after: config.headerTimeout)
            sendResponse()
        }
    }

    /// What is left of the cached answer's TTL when the resolver caches, else the default.
    private func ttlHint(_ host: String) -> UInt32 {
        guard let chain = worker.shared.resolver as? ResolverChain else { return RelayResolution.defaultTTL }
        let cache = (chain.fallback as? EncryptedResolver)?.cache
        guard let entry = cache?.lookup(host) else { return RelayResolution.defaultTTL }
        let now = MonotonicClock.now()
        return entry.expires > now ? UInt32(max(1, (entry.expires - now) / 1_000_000_000)) : 1
    }
}
