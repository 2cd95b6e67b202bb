@testable import VeilProxy

/// Two record buffers, as the owner's pool would lend them, freed with the test.
final class RecordBuffers {
    static let capacity = 18437
    let client = UnsafeMutableRawPointer.allocate(byteCount: RecordBuffers.capacity, alignment: 16)
    let upstream = UnsafeMutableRawPointer.allocate(byteCount: RecordBuffers.capacity, alignment: 16)

    deinit {
        client.deallocate()
        upstream.deallocate()
    }

    /// Puts a CONNECT request head and `pipelined` bytes after it in the client buffer; returns
    /// where the pipelined bytes are.
    func request(pipelined: [UInt8] = []) -> Range<Int> {
        let head = Array("CONNECT example.com:443 HTTP/1.1\r\n\r\n".utf8)
        let all = head + pipelined
        all.withUnsafeBytes { client.copyMemory(from: $0.baseAddress!, byteCount: all.count) }
        return head.count..<all.count
    }
}
