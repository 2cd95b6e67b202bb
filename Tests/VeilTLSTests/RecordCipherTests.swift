import Testing
import VeilRuntime
@testable import VeilTLS

/// Veil's own record layer against OpenSSL's: records it seals must open in OpenSSL (SSL_read)
/// and records OpenSSL writes must open in it, for every cipher and version it takes over.
@Suite struct RecordCipherTests {
    typealias Case = KernelTLSKeysTests.Case

    static func session(_ c: Case) throws -> (client: TLSEngine, server: TLSEngine) {
        try KernelTLSKeysTests.session(c)
    }

    static func takeOver(_ engine: TLSEngine) throws -> (transmit: RecordCipher, receive: RecordCipher) {
        guard case .ciphers(let tx, let rx) = engine.recordCiphers() else {
            throw TestFailure("no takeover: \(engine.recordCiphers())")
        }
        return (tx, rx)
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// Seals `text` as one record of `type`.
    static func seal(_ cipher: RecordCipher, _ text: [UInt8], type: UInt8 = 23) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: text.count + RecordCipher.maxOverhead)
        let n = out.withUnsafeMutableBytes { cipher.seal(type: type, text, count: text.count, into: $0.baseAddress!) }
        #expect(n > 0)
        return Array(out.prefix(n))
    }

    /// Opens one record; returns its type and plaintext.
    static func open(_ cipher: RecordCipher, _ record: [UInt8]) -> (UInt8, [UInt8])? {
        var bytes = record
        let opened = bytes.withUnsafeMutableBytes { cipher.open($0.baseAddress!, length: $0.count) }
        guard case .record(let type, let offset, let count) = opened else { return nil }
        return (type, Array(bytes[offset..<(offset + count)]))
    }

    /// The records an engine has written, one array each.
    static func records(_ engine: TLSEngine) -> [[UInt8]] {
        var all = KernelTLSKeysTests.takeRecord(engine)
        var out: [[UInt8]] = []
        while all.count >= 5 {
            let n = 5 + Int(all[3]) << 8 + Int(all[4])
            out.append(Array(all.prefix(n)))
            all.removeFirst(n)
        }
        return out
    }

    @Test(arguments: KernelTLSKeysTests.cases)
    func interoperatesWithOpenSSL(_ c: Case) throws {
        let (client, server) = try RecordCipherTests.session(c)
        let (tx, rx) = try RecordCipherTests.takeOver(client)

        // Veil seals, OpenSSL opens.
        let request = Array("GET /own-records HTTP/1.1\r\n\r\n".utf8)
        let sealed = RecordCipherTests.seal(tx, request)
        server.inbound.append(sealed, count: sealed.count)
        var got = [UInt8](repeating: 0, count: 256)
        guard case .data(let n) = server.read(into: &got, max: got.count) else {
            Issue.record("OpenSSL did not open Veil's record")
            return
        }
        #expect(Array(got.prefix(n)) == request)

        // OpenSSL seals, Veil opens; a big record too.
        let response = (0..<(16 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(server.write(response, count: response.count) == response.count)
        let record = try #require(RecordCipherTests.records(server).first)
        let opened = try #require(RecordCipherTests.open(rx, record))
        #expect(opened.0 == 23 && opened.1 == response)

        // A flipped bit fails; so does a record whose length does not match its header.
        #expect(server.write(request, count: request.count) == request.count)
        var tampered = try #require(RecordCipherTests.records(server).first)
        tampered[tampered.count - 20] ^= 1
        #expect(RecordCipherTests.open(rx, tampered) == nil)
        var wrongLength = tampered
        wrongLength.removeLast()
        var bytes = wrongLength
        let r = bytes.withUnsafeMutableBytes { rx.open($0.baseAddress!, length: $0.count) }
        #expect(r == .failed(RecordFailure(RecordFailure.decodeError, "malformed record")))

        // close_notify from OpenSSL arrives as an alert.
        let (client2, server2) = try RecordCipherTests.session(c)
        let (_, rx2) = try RecordCipherTests.takeOver(client2)
        server2.close()
        let closeRecord = try #require(RecordCipherTests.records(server2).first)
        let alert = try #require(RecordCipherTests.open(rx2, closeRecord))
        #expect(alert.0 == 21 && alert.1 == [1, 0])
    }

    @Test(arguments: KernelTLSKeysTests.cases)
    func bothEndsVeil(_ c: Case) throws {
        let (client, server) = try RecordCipherTests.session(c)
        let (ctx, crx) = try RecordCipherTests.takeOver(client)
        let (stx, srx) = try RecordCipherTests.takeOver(server)
        for i in 0..<3 {
            let text = Array("record \(i)".utf8)
            #expect(RecordCipherTests.open(srx, RecordCipherTests.seal(ctx, text))?.1 == text)
            #expect(RecordCipherTests.open(crx, RecordCipherTests.seal(stx, text))?.1 == text)
        }
        // A record opened twice (replayed) fails: the sequence number moved on.
        let once = RecordCipherTests.seal(ctx, [1, 2, 3])
        #expect(RecordCipherTests.open(srx, once) != nil)
        #expect(RecordCipherTests.open(srx, once) == nil)
    }

    @Test func openNextInABuffer() throws {
        let (client, server) = try RecordCipherTests.session(KernelTLSKeysTests.cases[0])
        let (tx, _) = try RecordCipherTests.takeOver(client)
        let (_, rx) = try RecordCipherTests.takeOver(server)
        let text = Array("in a buffer".utf8)
        // Sealing into a buffer: nothing when the record would not fit, the record when it does.
        #expect(tx.seal(type: 23, text, into: ByteBuffer(capacity: text.count + RecordCipher.maxOverhead - 1)) == nil)
        let out = ByteBuffer(capacity: 256)
        let written = try #require(tx.seal(type: 23, text, into: out))
        #expect(out.readable == written.count)
        let sealed = Array(written)
        let input = ByteBuffer(capacity: 64 << 10)
        input.append(sealed, count: 7)
        guard case .incomplete = rx.openNext(in: input) else { Issue.record("half a record opened"); return }
        sealed.withUnsafeBytes { _ = input.append($0.baseAddress! + 7, count: sealed.count - 7) }
        guard case .record(23, let plaintext, text.count, sealed.count) = rx.openNext(in: input) else {
            Issue.record("whole record not opened")
            return
        }
        #expect(Array(UnsafeRawBufferPointer(start: plaintext, count: text.count)) == text)
        input.consume(sealed.count)
        // A header announcing more than TLS allows fails at once, before the body arrives.
        let huge: [UInt8] = [23, 3, 3, 0xff, 0xff]
        input.append(huge, count: huge.count)
        guard case .failed(let why) = rx.openNext(in: input) else { Issue.record("oversized record accepted"); return }
        #expect(why.reason.hasPrefix("record_overflow") && why.alert == RecordFailure.recordOverflow)
    }

    @Test func takeoverWaitsForARecordBoundary() throws {
        let (client, server) = try RecordCipherTests.session(KernelTLSKeysTests.cases[0])
        let text = [UInt8](repeating: 42, count: 100)
        #expect(server.write(text, count: text.count) == text.count)
        let record = try #require(RecordCipherTests.records(server).first)
        // Half a record inside OpenSSL: not now.
        client.inbound.append(record, count: 10)
        var scratch = [UInt8](repeating: 0, count: 200)
        #expect(client.read(into: &scratch, max: 200) == .needsInput)
        guard case .notNow = client.recordCiphers() else {
            Issue.record("takeover allowed mid-record")
            return
        }
        record.withUnsafeBytes { _ = client.inbound.append($0.baseAddress! + 10, count: record.count - 10) }
        #expect(client.read(into: &scratch, max: 200) == .data(100))
        _ = try RecordCipherTests.takeOver(client)
    }

    @Test func noTakeoverAfterAKeyUpdateThroughOpenSSL() throws {
        let (client, server) = try RecordCipherTests.session(KernelTLSKeysTests.cases[0])
        client.watchKeyUpdates()
        #expect(server.keyUpdate(requestPeer: false))
        let data = Array("updated".utf8)
        #expect(server.write(data, count: data.count) == data.count)
        TLSEngineTests.shuttle(client, server)
        var got = [UInt8](repeating: 0, count: 64)
        #expect(client.read(into: &got, max: got.count) == .data(data.count))
        guard case .unsupported(let why) = client.recordCiphers() else {
            Issue.record("takeover allowed with stale secrets")
            return
        }
        #expect(why.contains("KeyUpdate"))
    }

    @Test func keyUpdateBothWays() throws {
        let (client, server) = try RecordCipherTests.session(KernelTLSKeysTests.cases[1])
        let (tx, rx) = try RecordCipherTests.takeOver(client)
        // OpenSSL updates its keys and asks Veil to update too.
        #expect(server.keyUpdate(requestPeer: true))
        let data = Array("after the update".utf8)
        #expect(server.write(data, count: data.count) == data.count)
        let records = RecordCipherTests.records(server)
        #expect(records.count == 2)
        let update = try #require(RecordCipherTests.open(rx, records[0]))
        #expect(update.0 == 22 && update.1 == [24, 0, 0, 1, 1])
        // The old key no longer opens what follows (a failed open moves nothing on); the new one does.
        #expect(RecordCipherTests.open(rx, records[1]) == nil)
        #expect(rx.update())
        #expect(RecordCipherTests.open(rx, records[1])?.1 == data)

        // Veil answers with its own KeyUpdate and moves on; OpenSSL reads what follows.
        let answer = RecordCipherTests.seal(tx, [24, 0, 0, 1, 0], type: 22)
        #expect(tx.update())
        let more = Array("veil after its update".utf8)
        let sealed = answer + RecordCipherTests.seal(tx, more)
        server.inbound.append(sealed, count: sealed.count)
        var got = [UInt8](repeating: 0, count: 256)
        #expect(server.read(into: &got, max: got.count) == .data(more.count))
        #expect(Array(got.prefix(more.count)) == more)
    }

    /// RFC 8446 5.1: a handshake message that changes keys (KeyUpdate) must end its record.
    /// Two KeyUpdates in one record, or a KeyUpdate followed by anything, are refused; one at
    /// the end of a record (after a ticket) is taken.
    @Test func keyUpdateMustEndItsRecord() throws {
        let (client, server) = try RecordCipherTests.session(KernelTLSKeysTests.cases[1])
        let (stx, _) = try RecordCipherTests.takeOver(server)
        let (_, crx) = try RecordCipherTests.takeOver(client)
        let keyUpdate: [UInt8] = [24, 0, 0, 1, 0]
        let ticket: [UInt8] = [4, 0, 0, 2, 0xAA, 0xBB]
        for (name, messages) in [("two KeyUpdates", keyUpdate + keyUpdate), ("a KeyUpdate, then a ticket", keyUpdate + ticket)] {
            let (c2, s2) = try RecordCipherTests.session(KernelTLSKeysTests.cases[1])
            let (tx, _) = try RecordCipherTests.takeOver(s2)
            let (_, rx) = try RecordCipherTests.takeOver(c2)
            let record = RecordCipherTests.seal(tx, messages, type: 22)
            let opened = try #require(RecordCipherTests.open(rx, record))
            #expect(opened.0 == 22 && opened.1 == messages)
            let taken = opened.1.withUnsafeBytes { rx.receivePostHandshake($0) }
            guard case .failed(let failure) = taken else {
                Issue.record("\(name) in one record accepted: \(taken)")
                continue
            }
            #expect(failure.alert == RecordFailure.unexpectedMessage, "\(name): \(failure)")
        }
        // A ticket, then a KeyUpdate ending the record: taken, and the next record opens with the new key.
        let record = RecordCipherTests.seal(stx, ticket + keyUpdate, type: 22)
        let opened = try #require(RecordCipherTests.open(crx, record))
        #expect(opened.1.withUnsafeBytes { crx.receivePostHandshake($0) } == .applied(answer: false))
        #expect(stx.update())
        let data = Array("after".utf8)
        #expect(RecordCipherTests.open(crx, RecordCipherTests.seal(stx, data))?.1 == data)
    }

    /// Every record Veil refuses names the fatal alert its sender gets (RFC 8446 5.2, 5.4, 4.6.3;
    /// InterceptRelayMachine+Ends seals it with that leg's keys before closing).
    @Test(arguments: KernelTLSKeysTests.cases)
    func refusedRecordsNameTheirAlert(_ c: Case) throws {
        // A fresh session for each record, so that sequence numbers match.
        func ciphers() throws -> (tx: RecordCipher, rx: RecordCipher) {
            let (client, server) = try RecordCipherTests.session(c)
            return (try RecordCipherTests.takeOver(server).transmit, try RecordCipherTests.takeOver(client).receive)
        }
        func openAlert(_ rx: RecordCipher, _ record: [UInt8]) -> UInt8? {
            var bytes = record
            let opened = bytes.withUnsafeMutableBytes { rx.open($0.baseAddress!, length: $0.count) }
            guard case .failed(let failure) = opened else { return nil }
            return failure.alert
        }
        // A flipped bit: bad_record_mac.
        var (tx, rx) = try ciphers()
        var tampered = RecordCipherTests.seal(tx, Array("tampered".utf8))
        tampered[tampered.count - 1] ^= 1
        #expect(openAlert(rx, tampered) == RecordFailure.badRecordMAC)
        // A header announcing more than TLS allows: record_overflow.
        let tls13 = rx.version == 0x0304
        let tooLong = tls13 ? 16384 + 257 : 16384 + 2049
        #expect(openAlert(rx, [23, 3, 3, UInt8(tooLong >> 8), UInt8(tooLong & 0xff)] + [UInt8](repeating: 0, count: tooLong))
                == RecordFailure.recordOverflow)
        // Too short to hold a tag: decode_error.
        #expect(openAlert(rx, [23, 3, 3, 0, 4, 1, 2, 3, 4]) == RecordFailure.decodeError)
        guard tls13 else { return }
        // TLS 1.3: an outer type other than application_data is unexpected_message.
        (tx, rx) = try ciphers()
        var handshakeTyped = RecordCipherTests.seal(tx, [1, 2, 3])
        handshakeTyped[0] = 22
        #expect(openAlert(rx, handshakeTyped) == RecordFailure.unexpectedMessage)
        // So is a record that is all padding (no inner content type): sealed here as type 0
        // with nothing in it.
        (tx, rx) = try ciphers()
        #expect(openAlert(rx, RecordCipherTests.seal(tx, [], type: 0)) == RecordFailure.unexpectedMessage)
        // A KeyUpdate asking for something other than 0 or 1: illegal_parameter; one of the wrong
        // length: decode_error.
        let bad: [UInt8] = [24, 0, 0, 1, 7]
        guard case .failed(let f) = bad.withUnsafeBytes({ rx.receivePostHandshake($0) }) else {
            Issue.record("KeyUpdate with request_update 7 accepted")
            return
        }
        #expect(f.alert == RecordFailure.illegalParameter)
        let longer: [UInt8] = [24, 0, 0, 2, 0, 0]
        guard case .failed(let g) = longer.withUnsafeBytes({ rx.receivePostHandshake($0) }) else {
            Issue.record("KeyUpdate of 2 bytes accepted")
            return
        }
        #expect(g.alert == RecordFailure.decodeError)
    }
}
