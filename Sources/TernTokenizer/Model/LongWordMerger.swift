/// BPE merging for long symbol sequences in O(n log n): a doubly linked list of symbols and a min-heap of
/// candidate pairs ordered by (rank, position), so the lowest rank merges first and ties go leftmost.
/// Stale heap entries are skipped when popped.
struct LongWordMerger {
    private var next: [Int32] = []
    private var prev: [Int32] = []
    private var alive: [Bool] = []
    /// Heap of (rank, position, merged id), packed as rank << 32 | position for ordering.
    private var heap: [(key: UInt64, merged: Int32)] = []

    mutating func merge(_ symbols: inout [Int32], merges: MergeTable) {
        let n = symbols.count
        next.removeAll(keepingCapacity: true)
        prev.removeAll(keepingCapacity: true)
        alive.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            next.append(i + 1 < n ? Int32(i + 1) : -1)
            prev.append(Int32(i - 1))
            alive.append(true)
        }
        for i in 0..<(n - 1) {
            if let m = merges.lookup(symbols[i], symbols[i + 1]) { push(rank: m.rank, pos: i, merged: m.merged) }
        }
        while let top = pop() {
            let pos = Int(top.key & 0xFFFF_FFFF)
            guard alive[pos] else { continue }
            let right = Int(next[pos])
            guard right >= 0, let m = merges.lookup(symbols[pos], symbols[right]), m.merged == top.merged,
                  UInt64(UInt32(m.rank)) == top.key >> 32 else { continue }
            symbols[pos] = m.merged
            alive[right] = false
            let after = next[right]
            next[pos] = after
            if after >= 0 { prev[Int(after)] = Int32(pos) }
            let before = Int(prev[pos])
            if before >= 0, let p = merges.lookup(symbols[before], symbols[pos]) {
                push(rank: p.rank, pos: before, merged: p.merged)
            }
            if after >= 0, let p = merges.lookup(symbols[pos], symbols[Int(after)]) {
                push(rank: p.rank, pos: pos, merged: p.merged)
            }
        }
        var out = 0
        for i in 0..<n where alive[i] {
            symbols[out] = symbols[i]
            out += 1
        }
        symbols.removeSubrange(out...)
    }

    private mutating func push(rank: Int32, pos: Int, merged: Int32) {
        heap.append((UInt64(UInt32(rank)) << 32 | UInt64(pos), merged))
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if heap[parent].key <= heap[i].key { break }
            heap.swapAt(parent, i)
            i = parent
        }
    }

    private mutating func pop() -> (key: UInt64, merged: Int32)? {
        guard let top = heap.first else { return nil }
        let last = heap.removeLast()
        if heap.isEmpty { return top }
        heap[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var smallest = i
            if l < heap.count, heap[l].key < heap[smallest].key { smallest = l }
            if r < heap.count, heap[r].key < heap[smallest].key { smallest = r }
            if smallest == i { break }
            heap.swapAt(i, smallest)
            i = smallest
        }
        return top
    }
}
