import Synchronization

/// What each worker has been sent, approximately: the request texts cut into 16-byte blocks, each
/// prefix identified by a chained hash, mapped to the set of workers (a bit mask) that were sent a
/// request starting with it. A request's match on a worker is how many leading blocks that worker
/// has seen. Bounded: the oldest entries go first when the table is full (workers evict too).
/// Serves the cache-aware policy; up to 64 workers.
public final class PrefixMatchTable: Sendable {
    public static let blockBytes = 16
    private struct State {
        var owners: [UInt64: UInt64] = [:]
        var order: [UInt64] = []
        var head = 0
        var sizes: [Int]
    }
    private let state: Mutex<State>
    private let capacity: Int

    public init(workers: Int, capacity: Int = 1 << 20) {
        precondition(workers <= 64, "the prefix table tracks at most 64 workers")
        state = Mutex(State(sizes: Array(repeating: 0, count: workers)))
        self.capacity = capacity
    }

    /// Prefix hashes of `key`, one per whole block (a trailing partial block counts as one).
    static func prefixHashes(_ key: [UInt8]) -> [UInt64] {
        var hashes: [UInt64] = []
        hashes.reserveCapacity(key.count / blockBytes + 1)
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        key.withUnsafeBufferPointer { bytes in
            var i = 0
            while i < bytes.count {
                let end = min(i + blockBytes, bytes.count)
                for j in i..<end { h = (h ^ UInt64(bytes[j])) &* 0x0000_0100_0000_01b3 }
                h = (h ^ 0xff) &* 0x0000_0100_0000_01b3  // block boundary
                hashes.append(h)
                i = end
            }
        }
        return hashes
    }

    /// Matched bytes of `key` per worker index.
    public func matchedBytes(_ key: [UInt8], workers: Int) -> [Int] {
        let hashes = Self.prefixHashes(key)
        var matched = Array(repeating: 0, count: workers)
        state.withLock { s in
            var alive: UInt64 = workers == 64 ? .max : (1 << UInt64(workers)) - 1
            for (block, h) in hashes.enumerated() {
                alive &= s.owners[h] ?? 0
                if alive == 0 { break }
                let bytes = min((block + 1) * Self.blockBytes, key.count)
                for w in 0..<workers where alive & (1 << UInt64(w)) != 0 { matched[w] = bytes }
            }
        }
        return matched
    }

    /// Records that `worker` was sent `key`.
    public func insert(_ key: [UInt8], worker: Int) {
        let bit: UInt64 = 1 << UInt64(worker)
        let hashes = Self.prefixHashes(key)
        state.withLock { s in
            for h in hashes {
                let old = s.owners[h] ?? 0
                if old & bit != 0 { continue }
                if old == 0 { s.order.append(h) }
                s.owners[h] = old | bit
                s.sizes[worker] += 1
            }
            // Evict oldest prefixes (amortised: compact the order list when half of it is consumed).
            while s.owners.count > capacity, s.head < s.order.count {
                let h = s.order[s.head]
                s.head += 1
                if let mask = s.owners.removeValue(forKey: h) {
                    for w in 0..<s.sizes.count where mask & (1 << UInt64(w)) != 0 { s.sizes[w] -= 1 }
                }
            }
            if s.head > 4096 && s.head * 2 > s.order.count {
                s.order.removeFirst(s.head)
                s.head = 0
            }
        }
    }

    /// Blocks recorded per worker (the cache-aware policy sends unmatched requests to the emptiest).
    public func sizes() -> [Int] { state.withLock { $0.sizes } }
}
