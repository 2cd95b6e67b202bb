/// The static Huffman code (RFC 7541 section 5.2, Appendix B; the table is generated into
/// HPACKTables by tools/hpack_tables.py). Decoding walks the code tree bit by bit.
enum HPACKHuffman {
    /// The code tree: node n's children are tree[2n] (bit 0) and tree[2n + 1] (bit 1); a child
    /// >= 1 is an inner node, a child < 0 is the leaf of symbol -(child + 1). Node 0 is the root.
    /// The code is complete, so every slot is filled (HPACKHuffmanTests checks it).
    static let tree: [Int16] = {
        var tree: [Int16] = [0, 0]
        for symbol in 0..<HPACKTables.huffmanCodes.count {
            let code = HPACKTables.huffmanCodes[symbol]
            let length = Int(HPACKTables.huffmanLengths[symbol])
            var node = 0
            for bitIndex in stride(from: length - 1, through: 0, by: -1) {
                let slot = node * 2 + Int((code >> UInt32(bitIndex)) & 1)
                if bitIndex == 0 {
                    tree[slot] = Int16(-(symbol + 1))
                } else {
                    if tree[slot] == 0 {
                        tree.append(contentsOf: [0, 0])
                        tree[slot] = Int16(tree.count / 2 - 1)
                    }
                    node = Int(tree[slot])
                }
            }
        }
        return tree
    }()

    static let eos = 256

    /// Appends the decoding of `input` to `out`; throws .headerListTooLarge once more than
    /// `limit` octets would be produced.
    static func decode(_ input: ArraySlice<UInt8>, limit: Int, into out: inout [UInt8]) throws(HPACKError) {
        let tree = Self.tree
        var node = 0
        var pendingBits = 0
        var pendingAllOnes = true
        let start = out.count
        for octet in input {
            for shift in stride(from: 7, through: 0, by: -1) {
                let bit = Int((octet >> UInt8(shift)) & 1)
                let child = Int(tree[node * 2 + bit])
                if child < 0 {
                    let symbol = -(child + 1)
                    guard symbol != eos else { throw .huffmanEOS }
                    guard out.count - start < limit else { throw .headerListTooLarge }
                    out.append(UInt8(truncatingIfNeeded: symbol))
                    node = 0
                    pendingBits = 0
                    pendingAllOnes = true
                } else {
                    node = child
                    pendingBits += 1
                    if bit == 0 { pendingAllOnes = false }
                }
            }
        }
        guard pendingBits <= 7, pendingAllOnes else { throw .invalidHuffmanPadding }
    }

    /// The number of octets `input` takes Huffman-coded, padding included.
    static func encodedLength<S: Sequence<UInt8>>(_ input: S) -> Int {
        var bits = 0
        for octet in input { bits += Int(HPACKTables.huffmanLengths[Int(octet)]) }
        return (bits + 7) / 8
    }

    /// Appends `input` Huffman-coded, padded with ones to an octet boundary.
    static func encode<S: Sequence<UInt8>>(_ input: S, into out: inout [UInt8]) {
        var accumulator: UInt64 = 0
        var bits = 0
        for octet in input {
            let length = Int(HPACKTables.huffmanLengths[Int(octet)])
            accumulator = (accumulator << UInt64(length)) | UInt64(HPACKTables.huffmanCodes[Int(octet)])
            bits += length
            while bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt64(bits)))
            }
            accumulator &= (UInt64(1) << UInt64(bits)) - 1
        }
        if bits > 0 {
            let pad = 8 - bits
            out.append(UInt8(truncatingIfNeeded: (accumulator << UInt64(pad)) | ((UInt64(1) << UInt64(pad)) - 1)))
        }
    }
}
