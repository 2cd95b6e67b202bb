import Testing
import VeilRuntime
import VeilTLS
import VeilWire
@testable import VeilProxy
#if canImport(Glibc)
import Glibc
#endif

/// Every way InterceptRelayMachine ends, on OpenSSL's records and on Veil's: close_notify either
/// side first, half-close in either order, a FIN without close_notify (never passed on as
/// close_notify), a truncated record, a fatal alert from each side, a record Veil refuses (the
/// alert, its deadline), a side gone.
@Suite("InterceptRelayMachine: every end")
struct InterceptRelayMachineEndsTests {
    typealias H = InterceptRelayHarness
    static let layers = [RecordLayerMode.openssl, .veil]
    static let sides = [TransferSide.client, .upstream]

    /// A relay on `layer`, on Veil's records already for `.veil`.
    static func relay(_ layer: RecordLayerMode, logRecords: Bool = false) throws -> H {
        let h = try H(recordLayer: layer, logRecords: logRecords)
        h.relay(80_000, from: .upstream)
        h.relay(80_000, from: .client)
        #expect(h.records.last == (layer == .veil ? "veil" : "openssl"))
        return h
    }

    @Test(arguments: layers, sides)
    func closeNotifyFirstFromEitherSide(_ layer: RecordLayerMode, _ first: TransferSide) throws {
        let h = try Self.relay(layer)
        h.peer(first).close()
        h.run()
        // Passed on as close_notify, then the write side is shut, saying so.
        #expect(h.read(first.other).closeNotify)
        #expect(h.shut[first.other] == true)
        #expect(h.shut[first] == nil)
        #expect(h.ends == ["\(first.name) close_notify"])
        #expect(h.closed == nil)
        h.peer(first.other).close()
        h.run()
        #expect(h.read(first).closeNotify)
        #expect(h.shut[first] == true)
        #expect(h.closeLine == "ok: both sides closed")
        #expect(h.ends == ["\(first.name) close_notify", "\(first.other.name) close_notify"])
    }

    @Test(arguments: layers, sides)
    func halfCloseThenDataTheOtherWay(_ layer: RecordLayerMode, _ first: TransferSide) throws {
        let h = try Self.relay(layer)
        h.peer(first).close()
        h.run()
        #expect(h.shut[first.other] == true)
        // The other side goes on sending; it all arrives.
        h.relay(50_000, from: first.other)
        #expect(h.closed == nil)
        // Its EOF without close_notify after that: a bare FIN.
        h.fail(first.other, receive: 0)
        h.run()
        #expect(h.shut[first] == false)
        #expect(!h.read(first).closeNotify)
        #expect(h.closeLine == "ok: both sides closed")
        #expect(h.ends == ["\(first.name) close_notify", "\(first.other.name) fin"])
    }

    @Test(arguments: layers, sides)
    func aFinWithoutCloseNotifyIsPassedOnAsABareFin(_ layer: RecordLayerMode, _ side: TransferSide) throws {
        let h = try Self.relay(layer)
        h.relay(1000, from: side)
        h.fail(side, receive: 0)
        h.run()
        // Never close_notify: the write side is shut bare, and the peer sees no close_notify.
        #expect(h.shut[side.other] == false)
        #expect(h.read(side.other).closeNotify == false)
        #expect(h.ends == ["\(side.name) fin"])
        #expect(h.closed == nil)
        h.fail(side.other, receive: 0)
        h.run()
        #expect(h.shut[side] == false)
        #expect(h.closeLine == "ok: both sides closed without close_notify")
        #expect(h.ends == ["\(side.name) fin", "\(side.other.name) fin"])
    }

    @Test(arguments: layers, sides)
    func aTruncatedRecordEndsAsFinMidRecord(_ layer: RecordLayerMode, _ side: TransferSide) throws {
        let h = try Self.relay(layer)
        h.run()
        h.write(side, Array(repeating: 0x41, count: 3000))
        // Part of the record, then EOF.
        #expect(h.completeReceive(side, limit: 100))
        h.peer(side).outbound.consume(h.peer(side).outbound.readable)
        h.run()
        h.fail(side, receive: 0)
        h.run()
        #expect(h.ends == ["\(side.name) fin-mid-record"])
        #expect(h.shut[side.other] == false, "a truncated record is never passed on as close_notify")
        let got = h.read(side.other)
        #expect(!got.closeNotify && got.bytes.isEmpty)
        #expect(h.closed == nil)
    }

    @Test(arguments: layers, sides)
    func aFatalAlertFromEitherSide(_ layer: RecordLayerMode, _ side: TransferSide) throws {
        let h = try Self.relay(layer)
        h.run()
        try h.sealAsPeer(side, type: TLSContentType.alert.rawValue, TLSAlert.fatal(RecordFailure.internalError).bytes)
        h.run()
        #expect(h.closed?.kind == side.gone)
        #expect(h.ends == ["\(side.name) alert:internal_error"])
        #expect(h.shut.isEmpty, "nothing passed on as an end")
        if layer == .veil {
            #expect(h.closeLine == "\(side.gone.rawValue): \(side.name): alert fatal internal_error")
        } else {
            #expect(h.closed?.reason.hasPrefix("\(side.name): ") == true)
        }
    }

    @Test(arguments: sides)
    func aRecordVeilRefusesIsAnsweredWithAnAlert(_ side: TransferSide) throws {
        let h = try Self.relay(.veil)
        h.run()
        // Application data that does not authenticate.
        let garbage: [UInt8] = [23, 3, 3, 0, 40] + Array(repeating: 0x5a, count: 40)
        _ = h.peer(side).outbound.append(garbage, count: garbage.count)
        #expect(h.completeReceive(side))
        #expect(h.stateName == "alerting")
        #expect(h.sending.contains(side))
        #expect(h.ends == ["\(side.name) bad-record"])
        // Reads are ignored meanwhile; the alert goes out, then the close.
        #expect(h.completeSend(side) == ["note", "close \(side.gone.rawValue)"])
        #expect(h.closeLine == "\(side.gone.rawValue): \(side.name): bad record MAC (sent alert fatal bad_record_mac)"
                || h.closed?.reason.hasSuffix("(sent alert fatal bad_record_mac)") == true)
        // The peer gets the alert, under its own keys.
        #expect(h.read(side).failed != nil || h.peer(side).inbound.readable > 0)
    }

    @Test func anAlertThatDoesNotGoOutWithinASecond() throws {
        let h = try Self.relay(.veil)
        h.run()
        let garbage: [UInt8] = [23, 3, 3, 0, 40] + Array(repeating: 0x5a, count: 40)
        _ = h.origin.outbound.append(garbage, count: garbage.count)
        #expect(h.completeReceive(.upstream))
        #expect(h.stateName == "alerting")
        let deadline = h.deadline
        #expect(deadline == h.now + H.second)
        #expect(h.on(.received(.client, result: 100, now: h.now)).isEmpty, "reads are ignored")
        #expect(h.on(.deadlinePassed(now: deadline - 1)) == ["deadline"])
        #expect(h.on(.deadlinePassed(now: deadline)) == ["close upstream-gone"])
    }

    @Test(arguments: sides)
    func aRecordOfAnUnexpectedType(_ side: TransferSide) throws {
        let h = try Self.relay(.veil)
        h.run()
        try h.sealAsPeer(side, type: TLSContentType.changeCipherSpec.rawValue, [1])
        h.run()
        #expect(h.closed?.kind == side.gone)
        #expect(h.closed?.reason.hasPrefix("\(side.name): a record of type 20 after the handshake") == true)
        #expect(h.ends == ["\(side.name) bad-record"])
    }

    @Test(arguments: sides)
    func aMalformedAlert(_ side: TransferSide) throws {
        let h = try Self.relay(.veil)
        h.run()
        try h.sealAsPeer(side, type: TLSContentType.alert.rawValue, [2, 40, 0])
        h.run()
        #expect(h.closed?.reason.hasPrefix("\(side.name): malformed alert") == true)
    }

    @Test(arguments: layers, sides)
    func aSideGoneOnReceive(_ layer: RecordLayerMode, _ side: TransferSide) throws {
        let h = try Self.relay(layer)
        h.run()
        #expect(h.fail(side, receive: -ECONNRESET).last == "close \(side.gone.rawValue)")
        #expect(h.closeLine == "\(side.gone.rawValue): \(side.name): \(SystemError.message(of: ECONNRESET))")
        #expect(h.ends == ["\(side.name) reset"])
    }

    @Test(arguments: sides)
    func aSideGoneOnSend(_ side: TransferSide) throws {
        let h = try Self.relay(.openssl)
        h.write(side.other, Array(repeating: 1, count: 100))
        #expect(h.completeReceive(side.other))
        #expect(h.sending.contains(side))
        h.sending.remove(side)
        #expect(h.on(.sent(side, result: -EPIPE, now: h.now)) == ["note", "close \(side.gone.rawValue)"])
        #expect(h.ends == ["\(side.name) reset"])
    }

    @Test func aShutdownCompletionIsKept() throws {
        let h = try Self.relay(.openssl)
        h.browser.close()
        h.run()
        #expect(h.shut[.upstream] == true)
        #expect(h.machine.relay?.up.sinkClosing == true)
        #expect(h.on(.shutDown(.upstream)).isEmpty)
        #expect(h.machine.relay?.up.sink == .shut(authenticated: true))
    }

    @Test func typedCausesSayWhatTheSummaryAlwaysSaid() {
        #expect(InterceptRelayClose.outputFull.closeReason == CloseReason(.error, "internal: TLS output buffer full"))
        #expect(InterceptRelayClose.sealFailed.closeReason == CloseReason(.error, "internal: sealing a record failed"))
        #expect(InterceptRelayClose.keyUpdateUnanswered.closeReason == CloseReason(.error, "cannot answer a KeyUpdate"))
        #expect(InterceptRelayClose.idle(seconds: 0.5).closeReason == CloseReason(.idleTimeout, "no data either way for 0.5s"))
        #expect(InterceptRelayClose.invalidTLS(.notTLS(firstByte: 0x47), from: .client).closeReason.kind == .handshakeFailed)
    }
}
