import VeilTLS

/// Record log lines of an intercepted connection (its handshakes, its userspace relay) gathered
/// as they happen, including the records OpenSSL writes (its output callback); the machine
/// turns them into `.logRecord` actions after each event.
final class InterceptRecordLog {
    struct Entry {
        let direction: RecordDirection
        let summary: TLSRecordSummary
    }

    struct OutputFailure {
        let error: TLSParseError
        let side: TransferSide
    }

    var entries: [Entry] = []
    /// A record written to a leg did not frame.
    var outputFailure: OutputFailure?

    /// Frames bytes OpenSSL wrote to `leg`'s socket into records and logs them.
    func scanOutput(_ leg: TLSLeg, _ bytes: UnsafeRawBufferPointer) {
        do {
            try leg.outScanner.feed(bytes) { record throws(TLSParseError) in
                // Veil's side of the session wrote it: the server on the client leg.
                let sender: TLSFlowTracker.Side = leg.isClient ? .server : .client
                entries.append(Entry(direction: leg.outbound, summary: leg.describe(record, from: sender)))
            }
        } catch {
            if outputFailure == nil { outputFailure = OutputFailure(error: error, side: leg.isClient ? .client : .upstream) }
        }
    }

    /// Frames bytes read from `leg`'s socket into records and logs them (the userspace relay,
    /// `--record-log records`); throws what does not frame.
    func scanInput(_ leg: TLSLeg, _ bytes: UnsafeRawBufferPointer) throws(TLSParseError) {
        try leg.inScanner.feed(bytes) { record throws(TLSParseError) in
            // The leg's peer wrote it: the client on the client leg.
            let sender: TLSFlowTracker.Side = leg.isClient ? .client : .server
            entries.append(Entry(direction: leg.inbound, summary: leg.describe(record, from: sender)))
        }
    }
}
