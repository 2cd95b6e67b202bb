import VeilResolver
import VeilWire
import VeilRuntime
#if canImport(Glibc)
import Glibc
#endif

/// RequestMachine: the answer to the client (a 200 that hands the connection over, or an error
/// answer followed by lingering).
extension RequestMachine {
    /// Sends a status line: with a `close` reason an error answer followed by lingering and
    /// closing; without one (200) the transfer starts once it is out (`then`).
    mutating func answer(_ status: HTTPStatusResponse.Status, _ close: CloseReason?,
                         then: AfterAnswer? = nil, now: UInt64, _ actions: inout [Action]) {
        let challenge = status != .proxyAuthenticationRequired ? nil
            : policy.gate != nil ? RelayGate.challenge : ProxyAuthenticator.challenge
        let bytes = HTTPStatusResponse(status: status, reason: close?.reason,
                                       httpVersion: request?.httpVersion ?? "HTTP/1.1", challenge: challenge).bytes
        let next = then ?? .close(close ?? CloseReason(.error, "answered"))
        send(bytes, then: next, now: now, &actions)
    }


    mutating func send(_ bytes: [UInt8], then: AfterAnswer, now: UInt64, _ actions: inout [Action]) {
        let deadline = now + config.headerTimeout.nanoseconds
        state = .answering(Answer(length: bytes.count, then: then), deadline: deadline)
        setDeadline(deadline, &actions)
        actions.append(.stageAnswer(bytes))
        actions.append(.sendAnswer(offset: 0))
    }

    /// `veil relay`: the answer to `RESOLVE host:port`, then the connection ends.
    mutating func answerResolution(_ outcome: ResolveOutcome, _ req: ConnectRequest, now: UInt64,
                                   _ actions: inout [Action]) {
        switch outcome {
        case .failure(let reason):
            answer(.badGateway, CloseReason(.resolveFailed, reason), now: now, &actions)
        case .success(let answer):
            let addresses = answer.addresses.map(\.ipString)
            let https: RelayResolution.HTTPSPart? = switch answer.https {
            case .records(let records, let ttl, let source)?: .records(records.map(\.rdata), ttl: ttl, source: source)
            case .failure(let why)?: .failure(why)
            case nil: nil
            }
            let bytes = RelayResolution.response(addresses: addresses, ttl: policy.ttlHint(req.target.host, now),
                                                 source: answer.source, https: https, httpVersion: req.httpVersion)
            send(bytes, then: .close(CloseReason(.ok, "resolved to \(addresses.joined(separator: " ")) from \(answer.source)")),
                 now: now, &actions)
        }
    }

    mutating func answerSent(_ result: Int32, now: UInt64, summary: inout ConnectionSummary,
                             _ actions: inout [Action]) {
        guard case .answering(var a, let deadline) = state else { return }
        if result == -EAGAIN || result == -EINTR {
            actions.append(.sendAnswer(offset: a.sent))
            return
        }
        guard result > 0 else {
            switch a.then {
            case .close(let reason): close(reason, &actions)
            case .transfer: close(CloseReason(.clientGone, "client: \(SystemError.message(of: -result)) while sending the response"), &actions)
            }
            return
        }
        a.sent += Int(result)
        if a.sent < a.length {
            state = .answering(a, deadline: deadline)
            actions.append(.sendAnswer(offset: a.sent))
            return
        }
        switch a.then {
        case .close(let reason):
            let lingerDeadline = now + 2_000_000_000
            state = .lingering(reason, deadline: lingerDeadline)
            setDeadline(lingerDeadline, &actions)
            actions.append(.answerComplete)
            actions.append(.shutdownWrite)
            actions.append(.lingerReceive)
        case .transfer(let t):
            guard let request else {
                close(CloseReason(.error, "internal: answered without a request"), &actions)
                return
            }
            state = .handedOver
            if t == .passthrough {
                summary.mode = .passthrough
                summary.ech = "off"  // the client writes its own ClientHello
            }
            actions.append(.handOver(t, request: request, pipelinedFrom: request.headerLength, filledTo: filled,
                                     ech: t == .intercept ? upstreamECH : .off))
        }
    }
}
