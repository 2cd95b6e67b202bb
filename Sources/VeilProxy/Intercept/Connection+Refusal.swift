import VeilRuntime
import VeilTLS

/// Refusing an intercepted client's handshake with a plaintext fatal alert, and how invalid TLS
/// is described. (The decisions are InterceptMachine's; pass-through refuses in its machine:
/// PassThroughMachine+Records.)
extension Connection {
    /// "client sent non-TLS data (first byte 0x47)", "upstream sent invalid TLS: truncated ...".
    static func describe(_ error: TLSParseError, from side: TLSFlowTracker.Side) -> String {
        TransferCloseCause.describe(error, from: side == .client ? .client : .upstream)
    }

    /// The plaintext fatal alert refusing a handshake; completes as `Op.alertSend`.
    func sendRefusal(_ alert: TLSAlert) {
        guard let record = stageResponse(alert.plaintextRecord) else { return }
        loop.send(handle, op: Op.alertSend.rawValue, fd: clientFD, from: record, count: responseLength)
    }

    /// The same for the transfer machines (their alert's description).
    func sendRefusal(alert description: UInt8) { sendRefusal(TLSAlert.fatal(description)) }
}
