import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// The one upstream reconnect after an ECH rejection with a config from DNS: the new socket's
/// connect and the fresh config lookup, both awaited.
final class UpstreamRetry {
    let host: String
    let port: UInt16
    var connectResult: Int32?
    var lookup: ECHLookup?

    init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }
}

/// InterceptMachine's `.retryUpstream`: close the rejected upstream socket, connect the same
/// address again, look the name's config up afresh (its cached HTTPS answer was dropped), and
/// hand the machine a new upstream leg with a fresh config (only a usable one: without it the
/// client is refused, never served with the name in clear).
extension Connection {
    func startECHRetry(host: String, port: UInt16, _ held: Held<InterceptMachine>) {
        if relayTunnel != nil {
            retryFailed("route tunnel: the relay tunnel is not reconnected (the next connection uses the fresh config)", held)
            return
        }
        guard let address = upstreamSocketAddress else {
            retryFailed("the upstream address is unknown", held)
            return
        }
        Socket.close(upstreamFD)
        upstreamFD = -1
        do {
            upstreamFD = try Socket.makeTCP(family: address.family)
        } catch {
            retryFailed("reconnect: \(error)", held)
            return
        }
        Socket.setNoDelay(upstreamFD)
        let retry = UpstreamRetry(host: host, port: port)
        echRetry = retry
        let slot = connectSlot ?? AddressSlot()
        connectSlot = slot
        loop.connect(handle, op: Op.connect.rawValue, fd: upstreamFD, to: address, slot: slot)
        guard let chain = worker.shared.resolver as? ResolverChain else {
            retry.lookup = .none("this resolver cannot look up ECH configs")
            return
        }
        let remote = loop.remote
        let h = handle
        if let now = chain.echConfig(for: host, port: port, completion: { remote.deliver($0, to: h) }) {
            retry.lookup = now
        }
    }

    func echRetryConnected(_ result: Int32) {
        guard let retry = echRetry else { return }
        retry.connectResult = result
        finishECHRetry(retry)
    }

    func echRetryLooked(_ lookup: ECHLookup) {
        guard let retry = echRetry, retry.lookup == nil else { return }
        retry.lookup = lookup
        finishECHRetry(retry)
    }

    private func finishECHRetry(_ retry: UpstreamRetry) {
        guard let result = retry.connectResult, let lookup = retry.lookup else { return }
        echRetry = nil
        let now = MonotonicClock.now()
        guard result == 0 else {
            interceptEvent(.upstreamRetried(nil, nil, failure: "reconnect: \(SystemError.message(of: -result))", now: now))
            return
        }
        guard case .success(let ech) = UpstreamECH.decide(mode: .require, lookup: lookup, host: retry.host),
              case .config = ech else {
            interceptEvent(.upstreamRetried(nil, nil, failure: "the fresh lookup has no usable ECH config (\(lookup.summaryText))", now: now))
            return
        }
        guard let ic = worker.shared.interception,
              let engine = try? TLSEngine(context: ic.upstreamContext, role: .client,
                                          inboundCapacity: 128 << 10, outboundCapacity: 128 << 10) else {
            interceptEvent(.upstreamRetried(nil, nil, failure: "TLS set-up failed", now: now))
            return
        }
        let leg = TLSLeg(.upstream, engine: engine, logAll: config.recordLog == .records)
        if let keylog = worker.keylog { engine.onKeyLog = { line in keylog.append(line + "\n") } }
        interceptEvent(.upstreamRetried(leg, ech, failure: nil, now: now))
    }

    private func retryFailed(_ why: String, _ held: Held<InterceptMachine>) {
        held.machine.handle(.upstreamRetried(nil, nil, failure: why, now: MonotonicClock.now()), &interceptActions)
    }
}

extension ECHLookup {
    /// Why there is no config, or where it came from (for reasons).
    var summaryText: String {
        switch self {
        case .explicit: "--ech-config"
        case .dns(_, _, let source): "from \(source)"
        case .none(let why), .failure(let why): why
        }
    }
}
