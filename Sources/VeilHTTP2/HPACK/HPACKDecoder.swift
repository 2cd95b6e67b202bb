/// Decodes header blocks (RFC 7541 sections 3, 6) for one direction of one HTTP/2 connection:
/// feed it every block the peer sends, in order. Malformed input is a thrown HPACKError, never a
/// trap; memory is bounded by maxTableSize (the dynamic table) and maxHeaderListSize (the list
/// one block decodes to, which also caps every string, Huffman output included).
public struct HPACKDecoder: Sendable {
    /// The limit this side announced (SETTINGS_HEADER_TABLE_SIZE); the peer's size updates may
    /// not exceed it.
    private(set) var tableSizeLimit: Int
    private(set) var table: HPACKDynamicTable
    public let maxHeaderListSize: Int

    public init(maxTableSize: Int = 4096, maxHeaderListSize: Int = 65536) {
        let limit = max(0, maxTableSize)
        tableSizeLimit = limit
        table = HPACKDynamicTable(maxSize: limit)
        self.maxHeaderListSize = max(0, maxHeaderListSize)
    }

    /// A new limit this side has announced (and the peer acknowledged). A lower one shrinks the
    /// table at once (the peer must also send a size update, which is then checked against it).
    public mutating func setMaxTableSize(_ size: Int) {
        tableSizeLimit = max(0, size)
        if table.maxSize > tableSizeLimit { table.resize(tableSizeLimit) }
    }

    /// The header list of one complete block (HEADERS plus its CONTINUATIONs).
    public mutating func decode(_ block: ArraySlice<UInt8>) throws(HPACKError) -> [HPACKHeader] {
        var headers: [HPACKHeader] = []
        var listSize = 0
        var position = block.startIndex
        var fieldSeen = false
        while position < block.endIndex {
            let first = block[position]
            if first & 0x80 != 0 {
                // 6.1 Indexed Header Field.
                let index = try HPACKInteger.decode(block, at: &position, prefixBits: 7)
                let header = try entry(index)
                try append(header, to: &headers, listSize: &listSize)
            } else if first & 0xC0 == 0x40 {
                // 6.2.1 Literal with Incremental Indexing.
                let header = try literal(block, at: &position, prefixBits: 6, listSize: listSize)
                try append(header, to: &headers, listSize: &listSize)
                table.add(header)
            } else if first & 0xE0 == 0x20 {
                // 6.3 Dynamic Table Size Update: only before the first field (4.2).
                guard !fieldSeen else { throw .tableSizeUpdateNotAtStart }
                let size = try HPACKInteger.decode(block, at: &position, prefixBits: 5)
                guard size <= tableSizeLimit else { throw .tableSizeUpdateTooLarge(size) }
                table.resize(size)
                continue
            } else {
                // 6.2.2 Literal without Indexing (0000) and 6.2.3 Never Indexed (0001).
                let header = try literal(block, at: &position, prefixBits: 4, listSize: listSize)
                try append(header, to: &headers, listSize: &listSize)
            }
            fieldSeen = true
        }
        return headers
    }

    /// The dynamic table, newest first (for tests).
    var dynamicTableEntries: [HPACKHeader] { table.newestFirst }
    var dynamicTableSize: Int { table.size }

    private func entry(_ index: Int) throws(HPACKError) -> HPACKHeader {
        guard index != 0 else { throw .indexZero }
        let statics = HPACKTables.staticTable
        if index <= statics.count {
            return HPACKHeader(name: statics[index - 1].name, value: statics[index - 1].value)
        }
        let dynamicIndex = index - statics.count - 1
        guard dynamicIndex < table.count else { throw .indexOutOfRange(index) }
        return table[newest: dynamicIndex]
    }

    private func literal(_ block: ArraySlice<UInt8>, at position: inout Int, prefixBits: Int, listSize: Int) throws(HPACKError) -> HPACKHeader {
        let nameIndex = try HPACKInteger.decode(block, at: &position, prefixBits: prefixBits)
        var budget = maxHeaderListSize - listSize - 32
        let name: String
        if nameIndex == 0 {
            name = try string(block, at: &position, limit: budget)
        } else {
            name = try entry(nameIndex).name
        }
        budget -= name.utf8.count
        let value = try string(block, at: &position, limit: budget)
        return HPACKHeader(name: name, value: value)
    }

    /// 5.2 String Literal; `limit` is what is left of the header list budget.
    private func string(_ block: ArraySlice<UInt8>, at position: inout Int, limit: Int) throws(HPACKError) -> String {
        guard position < block.endIndex else { throw .truncatedString }
        let huffman = block[position] & 0x80 != 0
        let length = try HPACKInteger.decode(block, at: &position, prefixBits: 7)
        guard length <= block.endIndex - position else { throw .truncatedString }
        let raw = block[position..<(position + length)]
        position += length
        let octets: [UInt8]
        if huffman {
            var decoded: [UInt8] = []
            try HPACKHuffman.decode(raw, limit: max(0, limit), into: &decoded)
            octets = decoded
        } else {
            guard length <= limit else { throw .headerListTooLarge }
            octets = Array(raw)
        }
        guard let text = String(validating: octets, as: UTF8.self) else { throw .invalidText }
        return text
    }

    private func append(_ header: HPACKHeader, to headers: inout [HPACKHeader], listSize: inout Int) throws(HPACKError) {
        listSize += header.hpackSize
        guard listSize <= maxHeaderListSize else { throw .headerListTooLarge }
        headers.append(header)
    }
}
