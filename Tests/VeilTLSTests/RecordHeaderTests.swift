import Testing
@testable import VeilTLS

@Suite struct RecordHeaderTests {
    @Test func parsesRealClientHelloHeader() throws {
        let header = try TLSRecordHeader(bytes: Fixtures.tls13Curl[0].bytes)
        #expect(header.contentType == .handshake)
        #expect(header.legacyVersion == 0x0301)
        #expect(header.length == 512)
    }

    @Test func encodesHeader() throws {
        let header = TLSRecordHeader(contentType: .applicationData, legacyVersion: 0x0303, length: 0x1234)
        #expect(header.encoded() == [23, 3, 3, 0x12, 0x34])
        let t = TLSRecordHeader.encode(type: .alert, version: 0x0301, length: 2)
        #expect([t.0, t.1, t.2, t.3, t.4] == [21, 3, 1, 0, 2])
        #expect(try TLSRecordHeader(bytes: header.encoded()) == header)
    }

    @Test func rejectsPlainHTTP() {
        #expect(throws: TLSParseError.notTLS(firstByte: 0x47)) {
            try TLSRecordHeader(bytes: Array("GET / HTTP/1.1\r\n".utf8))
        }
        // One byte is enough to tell.
        #expect(throws: TLSParseError.notTLS(firstByte: 0x47)) { try TLSRecordHeader(bytes: [0x47]) }
        #expect(TLSParseError.notTLS(firstByte: 0x47).description == "client sent non-TLS data (first byte 0x47)")
        #expect(TLSParseError.notTLS(firstByte: 0x48).description(from: .server) == "server sent non-TLS data (first byte 0x48)")
    }

    @Test func rejectsUnknownContentTypes() {
        for byte in [UInt8(0), 19, 25, 0x80, 0xff] {
            #expect(throws: TLSParseError.notTLS(firstByte: byte)) { try TLSRecordHeader(bytes: [byte, 3, 3, 0, 1]) }
        }
    }

    @Test func truncatedHeader() {
        #expect(throws: TLSParseError.truncated("record header")) { try TLSRecordHeader(bytes: [UInt8]()) }
        #expect(throws: TLSParseError.truncated("record header")) { try TLSRecordHeader(bytes: [22, 3, 1, 2]) }
    }

    @Test func rejectsBadMajorVersion() {
        #expect(throws: TLSParseError.badVersion(0x0200)) { try TLSRecordHeader(bytes: [22, 2, 0, 0, 5]) }
        #expect(throws: TLSParseError.badVersion(0x0403)) { try TLSRecordHeader(bytes: [23, 4, 3, 0, 5]) }
    }

    @Test func emptyRecords() throws {
        for type in [TLSContentType.handshake, .alert, .changeCipherSpec] {
            #expect(throws: TLSParseError.emptyRecord(type)) { try TLSRecordHeader(bytes: [type.rawValue, 3, 3, 0, 0]) }
        }
        #expect(try TLSRecordHeader(bytes: [23, 3, 3, 0, 0]).length == 0)
        #expect(TLSParseError.emptyRecord(.handshake).description == "empty handshake record")
    }

    @Test func lengthLimit() throws {
        #expect(TLSRecordHeader.maxLength == 18432)
        #expect(try TLSRecordHeader(bytes: [23, 3, 3, 0x48, 0x00]).length == 18432)
        #expect(throws: TLSParseError.recordTooLong(18433)) { try TLSRecordHeader(bytes: [23, 3, 3, 0x48, 0x01]) }
        #expect(throws: TLSParseError.recordTooLong(65535)) { try TLSRecordHeader(bytes: [22, 3, 3, 0xff, 0xff]) }
    }

    @Test func contentTypeNames() {
        #expect(TLSContentType.allCases.map(\.name)
            == ["change_cipher_spec", "alert", "handshake", "application_data", "heartbeat"])
        #expect(TLSContentType.allCases.map(\.rawValue) == [20, 21, 22, 23, 24])
    }
}
