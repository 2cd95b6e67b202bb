import Dispatch
import Synchronization
import VeilResolver
import VeilRuntime
import VeilWire

/// The resolver's way onto the workers' multiplexed relay connections (`--relay-mux on`): a
/// relay lookup, which runs on the resolver's background queue, is handed to the worker whose
/// connection asked (`loopIndex`) as a `RelayMuxQuery` on that worker's connection to the relay,
/// and the thread waits for its answer (the query has its own deadline; this wait a little
/// longer). Until the workers run (`attach`), lookups connect themselves.
public final class RelayMuxQueries: RelayQueryCarrier {
    private let remotes = Mutex<[LoopRemote]>([])

    public init() {}

    /// The workers' loops, by index.
    public func attach(_ loops: [LoopRemote]) {
        remotes.withLock { $0 = loops }
    }

    public func resolve(relay: Int, host: String, port: UInt16, https: Bool, loopIndex: Int?,
                        timeout: Double) -> Result<RelayResolution.ParseResult, RelayQueryFailure>? {
        let loops = remotes.withLock { $0 }
        guard !loops.isEmpty else { return nil }
        let remote = loops[(loopIndex ?? 0) % loops.count]
        let box = AnswerBox()
        remote.run { loop in
            guard let worker = loop.context as? ProxyWorker, worker.config.relays.indices.contains(relay) else {
                box.put(.failure(.init("no worker carries relay \(relay)")))
                return
            }
            worker.startRelayQuery(relay: relay, host: host, port: port, https: https, timeout: timeout) { box.put($0) }
        }
        guard box.ready.wait(timeout: .now() + timeout + 1) == .success, let answer = box.take() else {
            return .failure(.init("no answer on the multiplexed relay connection within \(timeout) s"))
        }
        return answer
    }

    /// One answer, put by the worker's thread and taken by the waiting one.
    private final class AnswerBox: Sendable {
        let ready = DispatchSemaphore(value: 0)
        private let value = Mutex<Result<RelayResolution.ParseResult, RelayQueryFailure>?>(nil)

        func put(_ v: Result<RelayResolution.ParseResult, RelayQueryFailure>) {
            value.withLock { $0 = v }
            ready.signal()
        }

        func take() -> Result<RelayResolution.ParseResult, RelayQueryFailure>? { value.withLock { $0 } }
    }
}
