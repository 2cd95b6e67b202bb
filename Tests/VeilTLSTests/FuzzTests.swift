import Testing
@testable import VeilTLS

/// Truncation and mutation runs over the real captures: every input must either parse or throw a
/// `TLSParseError` (typed throws guarantee the error type); nothing may trap.
@Suite struct FuzzTests {
    static let flows: [[(side: TLSFlowTracker.Side, bytes: [UInt8])]] =
        Fixtures.allFlows.map { flow in flow.map { ($0.side, $0.bytes) } }

    static let clientHelloRecords: [Fixtures.Record] =
        [Fixtures.tls13Curl[0], Fixtures.tls12Full[0], Fixtures.tls12Resumed[0], Fixtures.tls13HRR[0], Fixtures.tls13HRR[4]]

    static let serverHelloRecords: [Fixtures.Record] =
        [Fixtures.tls13Curl[1], Fixtures.tls12Full[1], Fixtures.tls12Resumed[1], Fixtures.tls13HRR[1], Fixtures.tls13HRR[5]]

    @Test func everyClientHelloPrefix() throws {
        for record in Self.clientHelloRecords {
            let bytes = record.bytes
            let body = record.body
            let message = Fixtures.messageBody(record)
            let full = try ClientHello(body: message)
            // The one shorter prefix that is itself a valid (extension-less) ClientHello.
            let legacyEnd = 2 + 32 + 1 + full.sessionID.count + 2 + 2 * full.cipherSuites.count + 1 + full.compressionMethods.count

            for n in 0..<bytes.count {
                var tracker = TLSFlowTracker()
                #expect(throws: TLSParseError.self) { try tracker.consume(record: bytes[..<n], from: .client) }
            }
            for n in 1..<body.count {
                // As a record body, a prefix is a partial message: no error, no message yet.
                var tracker = TLSFlowTracker()
                let summary = try tracker.consume(type: .handshake, body: body[..<n], from: .client)
                #expect(summary.messages.isEmpty)
                #expect(tracker.clientHello == nil)
            }
            for n in 0..<message.count {
                do {
                    _ = try ClientHello(body: Array(message[..<n]))
                    #expect(n == legacyEnd, "prefix \(n) parsed")
                } catch {
                    #expect(n != legacyEnd)
                }
            }
        }
    }

    @Test func everyServerHelloPrefix() throws {
        for record in Self.serverHelloRecords {
            let message = Fixtures.messageBody(record)
            let full = try ServerHello(body: message)
            let legacyEnd = 2 + 32 + 1 + full.sessionID.count + 2 + 1
            for n in 0..<message.count {
                do {
                    _ = try ServerHello(body: Array(message[..<n]))
                    #expect(n == legacyEnd, "prefix \(n) parsed")
                } catch {
                    #expect(n != legacyEnd)
                }
            }
        }
    }

    @Test func everyHeaderPrefix() {
        for flow in Self.flows {
            for (_, bytes) in flow {
                for n in 0..<TLSRecordHeader.size {
                    #expect(throws: TLSParseError.self) { try TLSRecordHeader(bytes: bytes[..<n]) }
                }
            }
        }
    }

    /// Seeded mutations of whole flows and of hello bodies. Every outcome is accepted except a trap.
    @Test func seededMutations() {
        var rng = SplitMix64(seed: 0x5eed_0f_7e11)
        var parsed = 0
        var rejected = 0
        for _ in 0..<4000 {
            var flow = Self.flows[Int.random(in: 0..<Self.flows.count, using: &rng)]
            let mutations = Int.random(in: 1...4, using: &rng)
            for _ in 0..<mutations {
                // Bias towards the hello records, where the parsing happens.
                let index = Bool.random(using: &rng) ? Int.random(in: 0..<min(2, flow.count), using: &rng)
                                                     : Int.random(in: 0..<flow.count, using: &rng)
                var bytes = flow[index].bytes
                guard !bytes.isEmpty else { continue }
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<7, using: &rng) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
                case 2: bytes[position] = Bool.random(using: &rng) ? 0xff : 0x00
                case 3: bytes.removeSubrange(position...)
                case 4: bytes.insert(contentsOf: bytes[position..<min(bytes.count, position + 16)], at: position)
                case 5: if position + 1 < bytes.count { bytes.swapAt(position, position + 1) }
                default: flow.swapAt(index, Int.random(in: 0..<flow.count, using: &rng))
                }
                flow[index].bytes = bytes
            }
            var tracker = TLSFlowTracker()
            do {
                for (side, bytes) in flow { _ = try tracker.consume(record: bytes, from: side) }
                parsed += 1
            } catch {
                rejected += 1
            }
            // Hello parsers on the (possibly mutated) first two records' message bodies.
            for (_, bytes) in flow.prefix(2) where bytes.count > 9 {
                let body = Array(bytes[9...])
                _ = try? ClientHello(body: body)
                _ = try? ServerHello(body: body)
            }
        }
        #expect(parsed + rejected == 4000)
        #expect(rejected > 1000)
        #expect(parsed > 0)
    }

    /// Random length fields in an otherwise valid ClientHello header are rejected or awaited,
    /// never allocated.
    @Test func randomDeclaredLengths() throws {
        var rng = SplitMix64(seed: 42)
        let body = Fixtures.tls13Curl[0].body
        for _ in 0..<2000 {
            var mutated = body
            let declared = Int.random(in: 0...0xFF_FFFF, using: &rng)
            mutated[1] = UInt8(declared >> 16); mutated[2] = UInt8(declared >> 8 & 0xff); mutated[3] = UInt8(declared & 0xff)
            var tracker = TLSFlowTracker()
            do {
                let summary = try tracker.consume(type: .handshake, body: mutated, from: .client)
                if declared > 131072 { Issue.record("declared \(declared) accepted") }
                if declared > body.count - 4 { #expect(summary.messages.isEmpty) }
            } catch {
                if declared > 131072 { #expect(error == .messageTooLarge(declared)) }
            }
        }
    }
}
