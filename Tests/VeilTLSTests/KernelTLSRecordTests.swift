import Testing
@testable import VeilTLS

@Suite("KernelTLSRecord")
struct KernelTLSRecordTests {
    private func classify(_ type: UInt8, _ body: [UInt8]) -> KernelTLSRecord {
        body.withUnsafeBufferPointer { KernelTLSRecord(type: type, body: $0) }
    }

    @Test func readings() {
        #expect(classify(23, [1, 2, 3]) == .applicationData)
        #expect(classify(21, [1, 0]) == .alert(level: 1, description: 0))
        #expect(classify(21, [1, 0]).isCloseNotify)
        #expect(!classify(21, [2, 40]).isCloseNotify)
        #expect(classify(21, [2]) == .malformedAlert)
        #expect(classify(22, [4, 0, 0, 9]) == .newSessionTicket)
        #expect(classify(22, [24, 0, 0, 1, 0]) == .keyUpdate)
        #expect(classify(22, [1]) == .unexpected("handshake message of type 1"))
        #expect(classify(22, []) == .unexpected("handshake message of type 0"))
        #expect(classify(20, [1]) == .unexpected("record of type 20"))
    }
}
