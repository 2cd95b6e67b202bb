import Testing
@testable import VeilTLS

@Suite struct HandshakeReassemblerTests {
    @Test func severalMessagesInOneBody() throws {
        var r = HandshakeReassembler()
        try r.append(Build.message(2, [1, 2, 3]) + Build.message(11, [4]) + Build.message(14, []))
        #expect(try r.nextMessage() == HandshakeMessage(type: 2, body: [1, 2, 3]))
        #expect(try r.nextMessage() == HandshakeMessage(type: 11, body: [4]))
        #expect(try r.nextMessage() == HandshakeMessage(type: 14, body: []))
        #expect(try r.nextMessage() == nil)
        #expect(r.isEmpty)
    }

    @Test func messageSpanningThreeBodies() throws {
        let message = Build.message(11, Array(0..<200).map { UInt8($0) })
        var r = HandshakeReassembler()
        try r.append(message[0..<2])
        #expect(try r.nextMessage() == nil)
        try r.append(message[2..<100])
        #expect(try r.nextMessage() == nil)
        #expect(r.bufferedByteCount == 100)
        try r.append(message[100...] + Build.message(20, [9]).prefix(3))
        let first = try #require(try r.nextMessage())
        #expect(first.type == 11 && first.body.count == 200 && first.body.last == 199)
        #expect(try r.nextMessage() == nil)
        #expect(r.bufferedByteCount == 3)
    }

    @Test func realClientHelloByteByByte() throws {
        let body = Fixtures.tls13Curl[0].body
        var r = HandshakeReassembler()
        for (i, byte) in body.enumerated() {
            try r.append([byte])
            let message = try r.nextMessage()
            if i < body.count - 1 {
                #expect(message == nil)
            } else {
                #expect(message?.type == 1)
                #expect(message?.encoded() == body)
            }
        }
    }

    @Test func rejectsOversizedDeclaredLengthWithoutAllocating() throws {
        var r = HandshakeReassembler()
        #expect(throws: TLSParseError.messageTooLarge(0xFF_FFFF)) { try r.append([1, 0xff, 0xff, 0xff, 0]) }
        #expect(r.bufferedByteCount == 5)

        var small = HandshakeReassembler(maxMessageLength: 100)
        try small.append(Build.message(11, [UInt8](repeating: 0, count: 100)))
        #expect(try small.nextMessage()?.body.count == 100)
        #expect(throws: TLSParseError.messageTooLarge(101)) { try small.append([11, 0, 0, 101]) }
    }

    @Test func headerSplitBeforeLengthIsCheckedOnCompletion() throws {
        var r = HandshakeReassembler(maxMessageLength: 10)
        try r.append([11, 0])
        #expect(throws: TLSParseError.messageTooLarge(0x1000)) { try r.append([0x10, 0x00]) }
    }

    @Test func refusesToGrowWhenMessagesAreNotPulled() throws {
        var r = HandshakeReassembler(maxMessageLength: 10)
        try r.append(Build.message(1, [UInt8](repeating: 0, count: 10)))   // 14 bytes, complete, not pulled
        try r.append(Build.message(1, [0]))                                   // allowed: at the bound
        #expect(r.bufferedByteCount == 19)
        #expect(throws: TLSParseError.self) { try r.append([1]) }          // would exceed bound + one record
        #expect(try r.nextMessage()?.body.count == 10)
        #expect(try r.nextMessage()?.body == [0])
    }
}
