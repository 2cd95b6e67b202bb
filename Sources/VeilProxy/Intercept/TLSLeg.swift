import VeilResolver
import VeilWire
import VeilRuntime
import VeilTLS

/// One socket of an intercepted connection and the TLS session Veil runs on it. Which socket
/// (`side`) is all it knows of it: the owner maps a side to its descriptor and operations.
final class TLSLeg {
    let side: TransferSide
    let engine: TLSEngine
    /// Records read from this socket, and records Veil writes to it, for the record log.
    let inbound: RecordDirection
    let outbound: RecordDirection
    var tracker = TLSFlowTracker()
    var trackerFailed = false
    var inScanner: RecordScanner
    var outScanner: RecordScanner

    // The handshakes' operations in flight and EOF (InterceptMachine); the relay after them
    // takes these over into its `StreamDirection`s (InterceptRelay, MixedRelay), which keep
    // each direction's half-close bookkeeping from then on.
    var receiving = false
    var sending = false
    /// The socket reached EOF.
    var eof = false
    /// kTLS switch: the last read found nothing waiting (MSG_DONTWAIT).
    var wouldBlock = false
    /// kTLS switch: everything that had arrived has been read.
    var drained = false
    /// Upstream leg: sessions OpenSSL cached from this connection's tickets.
    var tickets = 0

    /// The client's socket (else the upstream's).
    var isClient: Bool { side == .client }

    init(_ side: TransferSide, engine: TLSEngine, logAll: Bool) {
        self.side = side
        self.engine = engine
        inbound = side == .client ? .clientToProxy : .upstreamToProxy
        outbound = side == .client ? .proxyToClient : .proxyToUpstream
        inScanner = RecordScanner(collectBodies: true)
        outScanner = RecordScanner(collectBodies: logAll)
    }

    /// A record read from or written to this socket, for the record log: described by the flow
    /// tracker while the handshake runs (`sender` wrote it), else opaque. A record the tracker
    /// cannot parse stops its describing, or, when `strict`, is thrown.
    func summarize(_ record: RecordScanner.Record, from sender: TLSFlowTracker.Side,
                   strict: Bool) throws(TLSParseError) -> TLSRecordSummary {
        let opaque = TLSRecordSummary(contentType: record.header.contentType, length: record.header.length, isOpaque: true)
        guard !trackerFailed, !tracker.isHandshakeComplete, let body = record.body else { return opaque }
        do {
            return try tracker.consume(type: record.header.contentType, body: body, from: sender)
        } catch {
            if strict { throw error }
            trackerFailed = true
            return opaque
        }
    }

    /// The same, never throwing.
    func describe(_ record: RecordScanner.Record, from sender: TLSFlowTracker.Side) -> TLSRecordSummary {
        (try? summarize(record, from: sender, strict: false))
            ?? TLSRecordSummary(contentType: record.header.contentType, length: record.header.length, isOpaque: true)
    }
}
