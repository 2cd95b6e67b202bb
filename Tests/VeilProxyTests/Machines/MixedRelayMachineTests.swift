import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// MixedRelayMachine with the kTLS leg on either side: data both ways, and every end:
/// close_notify either side first, a FIN without close_notify (never passed on as close_notify)
/// on either leg, a truncated record, fatal alerts from each side, a record OpenSSL refuses (its
/// alert, its deadline), post-handshake messages on the kTLS leg, the idle timeout, a side gone.
@Suite("MixedRelayMachine: one leg on kTLS")
struct MixedRelayMachineTests {
    typealias H = MixedRelayHarness
    static let sides = [TransferSide.client, .upstream]

    static func bytes(_ count: Int, _ seed: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ seed) } }

    @Test(arguments: sides)
    func dataMovesBothWays(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        #expect(h.stateName == "relaying")
        #expect(h.deadline == h.now + 300 * H.second)
        #expect(h.kernelReceiving, "a record is asked for at once")
        // Userspace peer -> the kTLS socket, as plaintext the kernel seals.
        let up = Self.bytes(40_000, 1)
        h.write(up)
        h.run()
        #expect(h.kernelOut == up)
        #expect(h.sent[kernel] == up.count)
        // Records from the kTLS socket -> the userspace peer.
        var all: [UInt8] = []
        var got: [UInt8] = []
        for i in 0..<5 {
            let chunk = Self.bytes(16 << 10, i)
            all += chunk
            #expect(h.kernelRecord(23, chunk).contains("send"))
            h.run()
            got += h.read().bytes
        }
        #expect(got == all)
        #expect(h.closed == nil)
        #expect((h.sent[kernel.other] ?? 0) > all.count)
    }

    @Test(arguments: sides)
    func aPartialKernelSendIsFinishedFirst(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        let data = Self.bytes(3000, 3)
        h.write(data)
        _ = h.completeReceive()
        #expect(h.kernelSending == 3000)
        h.kernelOut.removeLast(2000)  // the kernel took 1000 bytes
        #expect(h.completeKernelSend(1000).contains("ktls send"))
        h.run()
        #expect(h.kernelOut == data)
    }

    @Test(arguments: sides)
    func closeNotifyFromTheKernelLegFirst(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        h.kernelRecord(21, [1, 0])
        h.run()
        #expect(h.read().closeNotify)
        #expect(h.shut == true)
        #expect(h.ends == ["\(kernel.name) close_notify"])
        #expect(!h.kernelReceiving, "nothing more is read from an ended stream")
        #expect(h.closed == nil)
        // The other way still moves; then the userspace peer's close_notify.
        h.write(Self.bytes(500, 4))
        h.run()
        #expect(h.kernelOut.count == 500)
        h.peer.close()
        h.run()
        #expect(h.kernelCloseNotify)
        #expect(h.kernelShut)
        #expect(h.closed == nil, "the kTLS shutdown has not completed")
        #expect(h.on(.kernelShutDown) == ["close ok"])
        #expect(h.closeLine == "ok: both sides closed")
        #expect(h.ends == ["\(kernel.name) close_notify", "\(kernel.other.name) close_notify"])
    }

    @Test(arguments: sides)
    func closeNotifyFromTheUserspaceLegFirst(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        h.peer.close()
        h.run()
        #expect(h.kernelCloseNotify, "passed on as a close_notify record")
        #expect(h.kernelShut)
        h.on(.kernelShutDown)
        #expect(h.ends == ["\(kernel.other.name) close_notify"])
        // Records still come the other way.
        h.kernelRecord(23, Self.bytes(100, 5))
        h.run()
        #expect(h.read().bytes.count == 100)
        h.kernelReceive(result: 0)
        h.run()
        #expect(h.shut == false, "a FIN without close_notify: a bare FIN")
        #expect(!h.read().closeNotify)
        #expect(h.closeLine == "ok: both sides closed")
        #expect(h.ends == ["\(kernel.other.name) close_notify", "\(kernel.name) fin"])
    }

    @Test(arguments: sides)
    func aFinWithoutCloseNotifyOnTheUserspaceLeg(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        h.write(Self.bytes(100, 6))
        h.run()
        h.fail(receive: 0)
        h.run()
        #expect(h.kernelShut && !h.kernelCloseNotify, "never close_notify for a bare FIN")
        #expect(h.ends == ["\(kernel.other.name) fin"])
        h.on(.kernelShutDown)
        h.kernelReceive(result: 0)
        h.run()
        #expect(h.shut == false)
        #expect(h.closeLine == "ok: both sides closed without close_notify")
    }

    @Test(arguments: sides)
    func aTruncatedRecordOnTheUserspaceLeg(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        h.write(Self.bytes(3000, 7))
        #expect(h.completeReceive(limit: 100))
        h.peer.outbound.consume(h.peer.outbound.readable)
        h.fail(receive: 0)
        h.run()
        #expect(h.ends == ["\(kernel.other.name) fin-mid-record"])
        #expect(h.kernelShut && !h.kernelCloseNotify)
        #expect(h.kernelOut.isEmpty)
    }

    @Test(arguments: sides)
    func aFatalAlertFromTheKernelLeg(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        #expect(h.kernelRecord(21, [2, 40]).last == "close \(kernel.gone.rawValue)")
        #expect(h.closeLine == "\(kernel.gone.rawValue): \(kernel.name) sent alert fatal handshake_failure")
        #expect(h.ends == ["\(kernel.name) alert:handshake_failure"])
        #expect(h.shut == nil)
    }

    @Test(arguments: sides)
    func aFatalAlertFromTheUserspaceLeg(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        guard case .ciphers(let tx, _) = h.peer.recordCiphers() else {
            Issue.record("the peer cannot take over")
            return
        }
        h.peer.handOverRecords()
        #expect(tx.seal(type: TLSContentType.alert.rawValue, TLSAlert.fatal(RecordFailure.internalError).bytes, into: h.peer.outbound) != nil)
        h.run()
        #expect(h.closed?.kind == kernel.other.gone)
        #expect(h.ends == ["\(kernel.other.name) alert:internal_error"])
        #expect(!h.kernelShut && !h.kernelCloseNotify)
    }

    @Test(arguments: sides)
    func aRecordOpenSSLRefusesGetsItsAlertOut(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        let garbage: [UInt8] = [23, 3, 3, 0, 40] + Array(repeating: 0x5a, count: 40)
        _ = h.peer.outbound.append(garbage, count: garbage.count)
        #expect(h.completeReceive())
        #expect(h.stateName == "alerting")
        #expect(h.sending)
        #expect(h.ends == ["\(kernel.other.name) bad-record"])
        #expect(h.deadline == h.now + H.second)
        #expect(h.on(.received(result: 10, now: h.now)).isEmpty, "reads are ignored")
        #expect(h.completeSend().last == "close \(kernel.other.gone.rawValue)")
        #expect(h.closed?.reason.hasPrefix("\(kernel.other.name): ") == true)
    }

    @Test func anAlertThatDoesNotGoOutWithinASecond() throws {
        let h = try H(kernel: .client)
        let garbage: [UInt8] = [23, 3, 3, 0, 40] + Array(repeating: 0x5a, count: 40)
        _ = h.peer.outbound.append(garbage, count: garbage.count)
        #expect(h.completeReceive())
        let deadline = h.deadline
        #expect(h.on(.deadlinePassed(now: deadline - 1)) == ["deadline"])
        #expect(h.on(.deadlinePassed(now: deadline)) == ["close upstream-gone"])
    }

    @Test(arguments: sides)
    func postHandshakeMessagesOnTheKernelLeg(_ kernel: TransferSide) throws {
        let h = try H(kernel: kernel)
        // A ticket is consumed; a KeyUpdate ends the connection.
        #expect(h.kernelRecord(22, [4, 0, 0, 1, 0]).contains("recvmsg"))
        #expect(h.closed == nil)
        h.kernelRecord(22, [24, 0, 0, 1, 0])
        #expect(h.closeLine == "error: \(kernel.name) sent a TLS 1.3 KeyUpdate; this kernel cannot rekey kTLS (Linux 6.1), so the connection ends")
    }

    @Test(arguments: sides)
    func whatTheKernelLegMayNotCarry(_ kernel: TransferSide) throws {
        var h = try H(kernel: kernel)
        h.kernelRecord(21, [2])
        #expect(h.closeLine == "error: \(kernel.name) sent a malformed alert")
        h = try H(kernel: kernel)
        h.kernelRecord(20, [1])
        #expect(h.closeLine == "error: \(kernel.name) sent a record of type 20 after the handshake")
        h = try H(kernel: kernel)
        h.kernelRecord(22, [1, 0, 0, 0])
        #expect(h.closeLine == "error: \(kernel.name) sent a handshake message of type 1 after the handshake")
        h = try H(kernel: kernel)
        h.kernelReceive(result: -EKEYEXPIRED)
        #expect(h.closeLine == "error: \(kernel.name) sent a TLS 1.3 KeyUpdate; kTLS rekeying is not implemented")
    }

    @Test(arguments: sides)
    func eachSideGone(_ kernel: TransferSide) throws {
        var h = try H(kernel: kernel)
        h.kernelReceive(result: -ECONNRESET)
        #expect(h.closeLine == "\(kernel.gone.rawValue): \(kernel.name): \(SystemError.message(of: ECONNRESET))")
        #expect(h.ends == ["\(kernel.name) reset"])
        h = try H(kernel: kernel)
        h.write(Self.bytes(10, 8))
        _ = h.completeReceive()
        #expect(h.completeKernelSend(-EPIPE).last == "close \(kernel.gone.rawValue)")
        h = try H(kernel: kernel)
        h.fail(receive: -ECONNRESET)
        #expect(h.closed?.kind == kernel.other.gone)
        #expect(h.ends == ["\(kernel.other.name) reset"])
        h = try H(kernel: kernel)
        h.kernelRecord(23, Self.bytes(10, 9))
        #expect(h.sending)
        h.sending = false
        #expect(h.on(.sent(result: -EPIPE, now: h.now)).last == "close \(kernel.other.gone.rawValue)")
        // Transient results: again.
        h = try H(kernel: kernel)
        #expect(h.kernelReceive(result: -EAGAIN).contains("recvmsg"))
        #expect(h.fail(receive: -EINTR).contains("receive"))
    }

    @Test func theIdleDeadline() throws {
        let h = try H(kernel: .upstream, idleTimeout: 20)
        let start = h.now
        h.now += 5 * H.second
        h.kernelRecord(23, Self.bytes(10, 10))
        #expect(h.on(.deadlinePassed(now: start + 20 * H.second)) == ["deadline"])
        #expect(h.deadline == start + 25 * H.second)
        #expect(h.on(.deadlinePassed(now: start + 25 * H.second)) == ["close idle-timeout"])
        #expect(h.closeLine == "idle-timeout: no data either way for 20s")
        #expect(h.on(.deadlinePassed(now: start + 99 * H.second)).isEmpty)
        #expect(h.on(.kernelShutDown).isEmpty)
    }

    @Test func theRecordLogHasTheUserspaceLegsRecords() throws {
        let h = try H(kernel: .upstream, logRecords: true)
        h.logged.removeAll()
        h.write(Self.bytes(100, 11))
        h.run()
        h.kernelRecord(23, Self.bytes(100, 12))
        h.run()
        #expect(h.logged.contains { $0.hasPrefix("client->proxy") })
        #expect(h.logged.contains { $0.hasPrefix("proxy->client") })
    }

    @Test func typedCausesSayWhatTheSummaryAlwaysSaid() {
        #expect(MixedRelayClose.idle(seconds: 1.5).closeReason == CloseReason(.idleTimeout, "no data either way for 1.5s"))
        #expect(MixedRelayClose.sessionFailed(.client, "x").closeReason == CloseReason(.clientGone, "client: x"))
        #expect(MixedRelayClose.invalidTLS(.notTLS(firstByte: 0x47), from: .upstream).closeReason.kind == .handshakeFailed)
    }
}
