import VeilRuntime
import VeilTLS

/// Refusing an intercepted client's handshake: its SNI checked against the CONNECT host, a
/// fatal alert, and how invalid TLS is described. (Pass-through does the same in its machine:
/// PassThroughMachine+Records.)
extension Connection {
    /// Records the client's SNI; refuses it (alert, `sni-mismatch`) when it names another host
    /// than the CONNECT request, unless allowed.
    func acceptClientSNI(_ hello: ClientHello) -> Bool {
        summary.sni = hello.serverName
        if let sni = hello.serverName, !config.allowSNIMismatch, let target = request?.target,
           !PassThroughMachine.sameHost(sni, target.host) {
            sendAlertAndClose(TransferCloseCause.sniMismatch(sni: sni, host: target.host).reason)
            return false
        }
        return true
    }

    /// "client sent non-TLS data (first byte 0x47)", "upstream sent invalid TLS: truncated ...".
    static func describe(_ error: TLSParseError, from side: TLSFlowTracker.Side) -> String {
        TransferCloseCause.describe(error, from: side == .client ? .client : .upstream)
    }

    /// Refuses the client's handshake with a fatal alert (access_denied unless told otherwise),
    /// then closes.
    func sendAlertAndClose(_ reason: CloseReason, alert description: UInt8 = PassThroughMachine.accessDenied) {
        pendingClose = reason
        phase = .lingering
        armDeadline(after: 2)
        sendRefusal(alert: description)
    }

    /// The plaintext fatal alert refusing a handshake; completes as `Op.alertSend`.
    func sendRefusal(alert description: UInt8) {
        guard let alert = stageResponse([21, 0x03, 0x03, 0x00, 0x02, 2, description]) else { return }
        loop.send(handle, op: Op.alertSend.rawValue, fd: clientFD, from: alert, count: responseLength)
    }
}
