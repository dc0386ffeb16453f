/// An open-addressing hash map from byte strings to token ids that can be queried with a buffer slice,
/// so looking up a piece of text never allocates.
struct ByteStringTable: Sendable {
    private var keys: [UInt8] = []
    /// Per slot: key offset, key length, value; length -1 marks an empty slot.
    private var slots: [(offset: Int32, length: Int32, value: Int32)]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: (0, -1, 0), count: size)
        mask = size - 1
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        // FNV-1a, 64-bit.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// Inserts or overwrites.
    mutating func insert(_ key: [UInt8], value: Int32) {
        if (count + 1) * 2 > slots.count { grow() }
        key.withUnsafeBufferPointer { k in
            var i = Self.hash(k) & mask
            while slots[i].length >= 0 {
                if equals(slot: i, k) { slots[i].value = value; return }
                i = (i + 1) & mask
            }
            slots[i] = (Int32(keys.count), Int32(k.count), value)
            keys.append(contentsOf: k)
            count += 1
        }
    }

    private func equals(slot i: Int, _ k: UnsafeBufferPointer<UInt8>) -> Bool {
        let s = slots[i]
        guard Int(s.length) == k.count else { return false }
        return keys.withUnsafeBufferPointer { all in
            let start = Int(s.offset)
            for j in 0..<k.count where all[start + j] != k[j] { return false }
            return true
        }
    }

    private mutating func grow() {
        let old = slots
        let oldKeys = keys
        var size = slots.count * 2
        if size < 16 { size = 16 }
        slots = Array(repeating: (0, -1, 0), count: size)
        mask = size - 1
        keys = []
        count = 0
        for s in old where s.length >= 0 {
            insert(Array(oldKeys[Int(s.offset)..<Int(s.offset + s.length)]), value: s.value)
        }
    }

    func lookup(_ k: UnsafeBufferPointer<UInt8>) -> Int32? {
        slots.withUnsafeBufferPointer { slots in
            keys.withUnsafeBufferPointer { all in
                var i = Self.hash(k) & mask
                while true {
                    let s = slots[i]
                    if s.length < 0 { return nil }
                    if Int(s.length) == k.count {
                        let start = Int(s.offset)
                        var same = true
                        for j in 0..<k.count where all[start + j] != k[j] { same = false; break }
                        if same { return s.value }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    func lookup(_ key: [UInt8]) -> Int32? { key.withUnsafeBufferPointer { lookup($0) } }
}

/// Merge ranks: (left id, right id) -> (rank, merged id), open addressing on a packed 64-bit key.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [(rank: Int32, merged: Int32)]
    private let mask: Int
    private static let emptyKey = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = Array(repeating: Self.emptyKey, count: size)
        values = Array(repeating: (0, 0), count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// A repeated pair keeps its last rank, as HF's map built from the merges list does.
    mutating func insert(left: Int32, right: Int32, rank: Int32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var i = Self.slot(key, mask)
        while keys[i] != Self.emptyKey {
            if keys[i] == key { values[i] = (rank, merged); return }
            i = (i + 1) & mask
        }
        keys[i] = key
        values[i] = (rank, merged)
    }

    @inline(__always)
    func lookup(_ left: Int32, _ right: Int32) -> (rank: Int32, merged: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        return keys.withUnsafeBufferPointer { keys in
            var i = Self.slot(key, mask)
            while true {
                let k = keys[i]
                if k == key { return values.withUnsafeBufferPointer { $0[i] } }
                if k == Self.emptyKey { return nil }
                i = (i + 1) & mask
            }
        }
    }
}
