import VeilTLS
#if canImport(Glibc)
import Glibc
#endif

/// Records on kTLS sockets that are not application data. Splice fails on them (EINVAL or EIO)
/// and leaves them queued; one is read with recvmsg, its type in a cmsg: close_notify and alerts
/// are passed on as records of their own (sendmsg) before the destination's write side is shut,
/// a fatal one then ends the connection; NewSessionTickets are consumed (OpenSSL no longer sees
/// this session, so one could not become a cached session); a KeyUpdate ends the connection
/// (Linux 6.1 cannot rekey); application data by recvmsg is sent on as it is.
extension SpliceMachine {
    mutating func recordReceived(_ s: SpliceStream, result: Int32, type: UInt8, body: UnsafeBufferPointer<UInt8>,
                                 _ actions: inout [Action]) {
        let sender = s.direction.source
        guard result >= 0 else {
            if SpliceMachine.isTransient(result) {
                drive(s, &actions)
            } else if result == -EKEYEXPIRED {
                close(.keyExpired(sender), &actions)
            } else {
                fail(s, reading: true, result: result, &actions)
            }
            return
        }
        if result == 0 {
            s.flow.sourceEnded(.fin)
            actions.append(.note(.end(sender, .fin)))
            drive(s, &actions)
            return
        }
        switch KernelTLSRecord(type: type, body: UnsafeBufferPointer(rebasing: body.prefix(Int(result)))) {
        case .alert(let level, let description):
            // close_notify or a fatal alert: passed on as a record of its own, then the end.
            let end: StreamEnd = description == 0 ? .closeNotify : .alert(description)
            actions.append(.note(.end(sender, end)))
            s.alert = (level, description)
            s.flow.sourceEnded(end)
            drive(s, &actions)
        case .newSessionTicket:
            drive(s, &actions)
        case .applicationData:
            // Application data by recvmsg (splice stopped for another reason): on as it is.
            s.record = .sending
            actions.append(.forwardRecord(s.direction, type: 23, count: Int(result)))
        case .malformedAlert:
            close(.malformedAlert(sender), &actions)
        case .keyUpdate:
            close(.keyUpdate(sender), &actions)
        case .unexpected(let what):
            close(.unexpectedRecord(sender, what), &actions)
        }
    }

    mutating func recordSent(_ s: SpliceStream, result: Int32, _ actions: inout [Action]) {
        if result < 0 && !SpliceMachine.isTransient(result) {
            fail(s, reading: false, result: result, &actions)
            return
        }
        if let alert = s.alert, alert.description != 0 {
            // A fatal alert went on; the connection ends with it.
            close(.fatalAlertPassedOn(s.direction.source, code: alert.description), &actions)
            return
        }
        drive(s, &actions)
    }
}
