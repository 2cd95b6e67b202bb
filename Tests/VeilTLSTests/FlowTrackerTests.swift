import Testing
@testable import VeilTLS

@Suite struct FlowTrackerTests {
    /// Feeds every record of `flow`, returning the tracker, the summaries and the index of the record
    /// after which `isHandshakeComplete` first became true.
    func run(_ flow: [Fixtures.Record]) throws -> (TLSFlowTracker, [TLSRecordSummary], Int?) {
        var tracker = TLSFlowTracker()
        var summaries: [TLSRecordSummary] = []
        var completedAt: Int?
        for (i, record) in flow.enumerated() {
            summaries.append(try tracker.consume(record: record.bytes, from: record.side))
            if tracker.isHandshakeComplete && completedAt == nil { completedAt = i }
        }
        return (tracker, summaries, completedAt)
    }

    @Test func tls13WithClientCompatibilityCCS() throws {
        let flow = Fixtures.tls13Curl
        let (tracker, s, completedAt) = try run(flow)
        #expect(s[0].messages == ["ClientHello sni=localhost alpn=h2,http/1.1 versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no"])
        #expect(s[0].length == 512 && !s[0].isOpaque)
        #expect(s[1].messages == ["ServerHello version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 alpn=-"])
        #expect(s[2] == TLSRecordSummary(contentType: .changeCipherSpec, length: 1))   // server compat CCS
        for i in 3...6 { #expect(s[i].isOpaque && s[i].messages.isEmpty && !flow[i].fromClient) }
        #expect(flow[7].contentType == .changeCipherSpec && flow[7].fromClient)
        #expect(s[7] == TLSRecordSummary(contentType: .changeCipherSpec, length: 1))   // client compat CCS ignored
        #expect(flow[8].contentType == .applicationData && flow[8].fromClient)
        #expect(completedAt == 8)                                                       // client Finished
        #expect(s[8...].allSatisfy { $0.isOpaque })
        #expect(tracker.version == 0x0304)
        #expect(tracker.isTLS13)
        #expect(tracker.cipherSuite == 0x1302)
        #expect(tracker.alpn == nil)
        #expect(tracker.clientHello?.serverName == "localhost")
        #expect(tracker.serverHello?.selectedVersion == 0x0304)
        #expect(tracker.helloRetryRequest == nil)
    }

    @Test func tls12FullHandshake() throws {
        let (tracker, s, completedAt) = try run(Fixtures.tls12Full)
        #expect(s.map(\.messages) == [
            ["ClientHello sni=x.example alpn=h2,http/1.1 versions=TLSv1.2 ech=no"],
            ["ServerHello version=TLSv1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 alpn=http/1.1"],
            ["Certificate"], ["ServerKeyExchange"], ["ServerHelloDone"],
            ["ClientKeyExchange"], [], [],
            ["NewSessionTicket"], [], [],
            [], [], [],
        ])
        #expect(s.map(\.isOpaque) == [false, false, false, false, false, false, false, true,
                                      false, false, true, true, true, true])
        #expect(s[7].contentType == .handshake)   // client Finished, encrypted
        #expect(completedAt == 10)                // server Finished: both sides done
        #expect(s[12].contentType == .alert && s[12].alert == nil)   // encrypted close_notify
        #expect(tracker.version == 0x0303)
        #expect(tracker.cipherSuite == 0xc02c)
        #expect(tracker.alpn == "http/1.1")
        #expect(!tracker.isTLS13)
    }

    @Test func tls12ResumptionServerFinishesFirst() throws {
        let (tracker, s, completedAt) = try run(Fixtures.tls12Resumed)
        #expect(s[1].messages == ["ServerHello version=TLSv1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 alpn=-"])
        #expect(s[2].contentType == .changeCipherSpec && !s[2].isOpaque)
        #expect(s[3].contentType == .handshake && s[3].isOpaque)   // server Finished
        #expect(s[4].contentType == .changeCipherSpec && !s[4].isOpaque)
        #expect(completedAt == 5)                                   // client Finished
        #expect(tracker.clientHello?.sessionID.count == 32)
    }

    @Test func tls13HelloRetryRequest() throws {
        let (tracker, s, completedAt) = try run(Fixtures.tls13HRR)
        #expect(s[0].messages == ["ClientHello sni=hrr.example alpn=- versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no"])
        #expect(s[1].messages == ["HelloRetryRequest cipher=TLS_AES_256_GCM_SHA384 group=secp384r1"])
        #expect(s[2].contentType == .changeCipherSpec && !s[2].isOpaque)
        #expect(s[3].contentType == .changeCipherSpec && !s[3].isOpaque)
        #expect(s[4].messages == ["ClientHello sni=hrr.example alpn=- versions=TLSv1.3,TLSv1.2,TLSv1.1,TLSv1.0 ech=no"])
        #expect(s[5].messages == ["ServerHello version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384 alpn=-"])
        #expect(completedAt == 10)
        #expect(tracker.clientHello?.keyShareGroups == [0x1d])
        #expect(tracker.secondClientHello?.keyShareGroups == [0x18])
        #expect(tracker.helloRetryRequest?.isHelloRetryRequest == true)
        #expect(tracker.serverHello?.isHelloRetryRequest == false)
        #expect(tracker.serverHello?.keyShareGroup == 0x18)
        #expect(tracker.version == 0x0304)
    }

    @Test func tls13HelloRetryRequestIsNotNegotiation() throws {
        var tracker = TLSFlowTracker()
        for record in Fixtures.tls13HRR.prefix(4) { _ = try tracker.consume(record: record.bytes, from: record.side) }
        #expect(tracker.version == nil)
        #expect(tracker.cipherSuite == nil)
        #expect(!tracker.isHandshakeComplete)
    }

    @Test func clientHelloSplitAcrossRecords() throws {
        let body = Fixtures.tls13Curl[0].body
        for cuts in [[100], [1], [3], [4], [148, 152], [2, 300], [200, 201]] {
            var tracker = TLSFlowTracker()
            var start = 0
            for (i, cut) in (cuts + [body.count]).enumerated() {
                let summary = try tracker.consume(type: .handshake, body: body[start..<cut], from: .client)
                #expect(summary.length == cut - start)
                #expect(summary.messages.count == (i == cuts.count ? 1 : 0), "cuts \(cuts)")
                start = cut
            }
            #expect(tracker.clientHello?.serverName == "localhost")
        }
    }

    @Test func severalMessagesInOneRecord() throws {
        let flow = Fixtures.tls12Full
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: flow[0].bytes, from: .client)
        let combined = flow[1].body + flow[2].body + flow[3].body + flow[4].body
        let summary = try tracker.consume(type: .handshake, body: combined, from: .server)
        #expect(summary.messages == [
            "ServerHello version=TLSv1.2 cipher=TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 alpn=http/1.1",
            "Certificate", "ServerKeyExchange", "ServerHelloDone",
        ])
        for record in flow[5...] { _ = try tracker.consume(record: record.bytes, from: record.side) }
        #expect(tracker.isHandshakeComplete)
    }

    @Test func plaintextAlertByName() throws {
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client)
        let summary = try tracker.consume(record: Build.record(.alert, [2, 40]), from: .server)
        #expect(summary.messages == ["Alert fatal handshake_failure"])
        #expect(summary.alert == TLSAlert(level: .fatal, code: 40))
        #expect(!summary.isOpaque)
        #expect(throws: TLSParseError.self) { try tracker.consume(record: Build.record(.alert, [9, 40]), from: .server) }
    }

    @Test func unknownHandshakeMessageIsNamedByCode() throws {
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: Fixtures.tls12Full[0].bytes, from: .client)
        let summary = try tracker.consume(type: .handshake,
                                          body: Fixtures.tls12Full[1].body + Build.message(0x63, [1]), from: .server)
        #expect(summary.messages.last == "Handshake(0x63)")
    }

    @Test func firstClientRecordMustStartAClientHello() {
        let expected = TLSParseError.unexpectedMessage("expected ClientHello")
        var tracker = TLSFlowTracker()
        #expect(throws: expected) { try tracker.consume(type: .applicationData, body: [1, 2, 3], from: .client) }
        tracker = TLSFlowTracker()
        #expect(throws: expected) { try tracker.consume(type: .handshake, body: Fixtures.tls12Full[1].body, from: .client) }
        tracker = TLSFlowTracker()
        #expect(throws: expected) { try tracker.consume(type: .alert, body: [2, 40], from: .client) }
        tracker = TLSFlowTracker()
        #expect(throws: TLSParseError.notTLS(firstByte: 0x47)) {
            try tracker.consume(record: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), from: .client)
        }
    }

    @Test func serverMayNotSpeakFirst() {
        var tracker = TLSFlowTracker()
        #expect(throws: TLSParseError.unexpectedMessage("server sent data before ClientHello")) {
            try tracker.consume(record: Fixtures.tls12Full[1].bytes, from: .server)
        }
    }

    @Test func protocolViolations() throws {
        let flow = Fixtures.tls12Full
        // Certificate before ServerHello.
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: flow[0].bytes, from: .client)
        #expect(throws: TLSParseError.unexpectedMessage("expected ServerHello, got Certificate")) {
            try tracker.consume(record: flow[2].bytes, from: .server)
        }
        // A second ClientHello without a HelloRetryRequest.
        tracker = TLSFlowTracker()
        _ = try tracker.consume(record: flow[0].bytes, from: .client)
        #expect(throws: TLSParseError.self) { try tracker.consume(record: flow[0].bytes, from: .client) }
        // Server CCS before ServerHello.
        tracker = TLSFlowTracker()
        _ = try tracker.consume(record: flow[0].bytes, from: .client)
        #expect(throws: TLSParseError.unexpectedMessage("change_cipher_spec before ServerHello")) {
            try tracker.consume(type: .changeCipherSpec, body: [1], from: .server)
        }
        // Bad CCS body.
        tracker = TLSFlowTracker()
        _ = try tracker.consume(record: flow[0].bytes, from: .client)
        _ = try tracker.consume(record: flow[1].bytes, from: .server)
        #expect(throws: TLSParseError.self) { try tracker.consume(type: .changeCipherSpec, body: [2], from: .server) }
        // Empty handshake record.
        #expect(throws: TLSParseError.emptyRecord(.handshake)) { try tracker.consume(type: .handshake, body: [], from: .server) }
        // Oversized body handed in directly.
        #expect(throws: TLSParseError.recordTooLong(18433)) {
            try tracker.consume(type: .applicationData, body: [UInt8](repeating: 0, count: 18433), from: .server)
        }
    }

    @Test func tls13ServerHelloMustEndItsRecord() throws {
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client)
        #expect(throws: TLSParseError.unexpectedMessage("handshake data after TLS 1.3 ServerHello in the same record")) {
            try tracker.consume(type: .handshake, body: Fixtures.tls13Curl[1].body + Build.message(8, [0, 0]), from: .server)
        }
    }

    @Test func tls13ClientPlaintextHandshakeAfterServerHelloIsRejected() throws {
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client)
        _ = try tracker.consume(record: Fixtures.tls13Curl[1].bytes, from: .server)
        #expect(throws: TLSParseError.self) { try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client) }
    }

    @Test func earlyDataBeforeServerHelloDoesNotCompleteTheHandshake() throws {
        var tracker = TLSFlowTracker()
        _ = try tracker.consume(record: Fixtures.tls13Curl[0].bytes, from: .client)
        _ = try tracker.consume(type: .changeCipherSpec, body: [1], from: .client)
        #expect(try tracker.consume(type: .applicationData, body: [1, 2, 3], from: .client).isOpaque)
        #expect(!tracker.isHandshakeComplete)
        _ = try tracker.consume(record: Fixtures.tls13Curl[1].bytes, from: .server)
        _ = try tracker.consume(type: .applicationData, body: [1, 2, 3], from: .client)
        #expect(tracker.isHandshakeComplete)
    }

    @Test func memoryIsBounded() throws {
        var tracker = TLSFlowTracker(maxMessageLength: 1000)
        #expect(throws: TLSParseError.messageTooLarge(2000)) {
            try tracker.consume(type: .handshake, body: [1, 0, 0x07, 0xd0, 3, 3], from: .client)
        }
        tracker = TLSFlowTracker()
        #expect(throws: TLSParseError.messageTooLarge(0xFF_FFFF)) {
            try tracker.consume(type: .handshake, body: [1, 0xff, 0xff, 0xff], from: .client)
        }
    }

    @Test func recordLengthMustMatchHeader() {
        var tracker = TLSFlowTracker()
        let record = Fixtures.tls13Curl[0].bytes
        #expect(throws: TLSParseError.truncated("record body")) { try tracker.consume(record: record.dropLast(), from: .client) }
        #expect(throws: TLSParseError.self) { try tracker.consume(record: record + [0], from: .client) }
    }
}
