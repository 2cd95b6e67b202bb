/// The dynamic table (RFC 7541 sections 2.3.2, 4): newest entry first in HPACK's numbering,
/// evicted oldest first so that its size (section 4.1) never exceeds maxSize.
struct HPACKDynamicTable: Sendable {
    /// Oldest first; HPACK index 62 is the last element.
    private var entries: [HPACKHeader] = []
    private(set) var size = 0
    private(set) var maxSize: Int

    init(maxSize: Int) {
        self.maxSize = maxSize
    }

    var count: Int { entries.count }

    /// Entry `i`, 0 being the newest (HPACK index 62).
    subscript(newest i: Int) -> HPACKHeader { entries[entries.count - 1 - i] }

    /// The entries, newest first (for tests and diagnostics).
    var newestFirst: [HPACKHeader] { entries.reversed() }

    /// Section 4.4: evicts until the entry fits, then adds it; an entry larger than maxSize
    /// empties the table and is not added.
    mutating func add(_ header: HPACKHeader) {
        let entrySize = header.hpackSize
        guard entrySize <= maxSize else {
            entries.removeAll(keepingCapacity: true)
            size = 0
            return
        }
        evict(toFit: maxSize - entrySize)
        entries.append(header)
        size += entrySize
    }

    /// Section 4.3: a new maximum size, evicting as needed.
    mutating func resize(_ newMaxSize: Int) {
        maxSize = newMaxSize
        evict(toFit: newMaxSize)
    }

    private mutating func evict(toFit limit: Int) {
        var drop = 0
        while size > limit, drop < entries.count {
            size -= entries[drop].hpackSize
            drop += 1
        }
        if drop > 0 { entries.removeFirst(drop) }
    }
}
