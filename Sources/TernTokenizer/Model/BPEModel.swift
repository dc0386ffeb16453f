/// Byte-pair encoding as Hugging Face's BPE model does it: initial symbols (bytes or characters), then repeatedly
/// merge the adjacent pair with the lowest merge rank, leftmost first.
struct BPEModel: Sendable {
    /// Token strings by id, as written in tokenizer.json (gaps are nil).
    let idToToken: [String?]
    /// Vocabulary keyed by the bytes the model sees: raw UTF-8 when `byteLevelInput`, else the token's UTF-8.
    let vocab: ByteStringTable
    let merges: MergeTable
    /// Pieces arrive as raw UTF-8 and every byte is one initial symbol (byte-level pre-tokenizer in front).
    let byteLevelInput: Bool
    /// Id of each single byte as an initial symbol (byte-level input), -1 when absent.
    let byteSymbolIds: [Int32]
    /// Ids of `<0xXX>` tokens when `byte_fallback` is on, else empty.
    let byteFallbackIds: [Int32]
    let unkId: Int32?
    let fuseUnk: Bool
    let ignoreMerges: Bool
    let continuingSubwordPrefix: [UInt8]
    let endOfWordSuffix: [UInt8]

    var vocabCount: Int { idToToken.count }

    /// Reusable buffers for one encode call.
    struct Scratch {
        var symbols: [Int32] = []
        var ranks: [Int32] = []
        var mergedIds: [Int32] = []
        var key: [UInt8] = []
        var long = LongWordMerger()
    }

    /// Above this many symbols the quadratic scan gives way to the heap (pieces without pre-tokenization,
    /// as in Llama-2's layout, can be whole paragraphs).
    static let heapThreshold = 48

    /// Appends the ids for one pre-tokenized piece (its UTF-8 bytes) to `out`.
    func tokenize(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [Int32], scratch: inout Scratch) {
        if piece.isEmpty { return }
        if ignoreMerges, let id = vocab.lookup(piece) {
            out.append(id)
            return
        }
        scratch.symbols.removeAll(keepingCapacity: true)
        if byteLevelInput && continuingSubwordPrefix.isEmpty && endOfWordSuffix.isEmpty {
            for b in piece {
                let id = byteSymbolIds[Int(b)]
                if id >= 0 { scratch.symbols.append(id) } else if let unkId { appendUnknown(unkId, to: &scratch.symbols, fuse: false) }
            }
        } else {
            initialCharacterSymbols(piece, scratch: &scratch)
        }
        mergeAll(&scratch)
        out.append(contentsOf: scratch.symbols)
    }

    private func appendUnknown(_ unk: Int32, to symbols: inout [Int32], fuse: Bool) {
        if fuse, symbols.last == unk { return }
        symbols.append(unk)
    }

    /// One symbol per character (or per byte with byte-level input), with prefix/suffix, byte fallback and unk.
    private func initialCharacterSymbols(_ piece: UnsafeBufferPointer<UInt8>, scratch: inout Scratch) {
        var i = 0
        var lastWasUnk = false
        while i < piece.count {
            let length = byteLevelInput ? 1 : UTF8Scalars.sequenceLength(piece[i])
            let end = min(piece.count, i + length)
            scratch.key.removeAll(keepingCapacity: true)
            if i > 0 { scratch.key.append(contentsOf: continuingSubwordPrefix) }
            for j in i..<end { scratch.key.append(piece[j]) }
            if end == piece.count { scratch.key.append(contentsOf: endOfWordSuffix) }
            if let id = vocab.lookup(scratch.key) {
                scratch.symbols.append(id)
                lastWasUnk = false
            } else if !byteFallbackIds.isEmpty, scratch.key.allSatisfy({ byteFallbackIds[Int($0)] >= 0 }) {
                for b in scratch.key { scratch.symbols.append(byteFallbackIds[Int(b)]) }
                lastWasUnk = false
            } else if let unkId {
                if !(fuseUnk && lastWasUnk) { scratch.symbols.append(unkId) }
                lastWasUnk = true
            }
            i = end
        }
    }

    /// Merges the lowest-ranked adjacent pair (leftmost on ties) until no pair has a merge.
    private func mergeAll(_ scratch: inout Scratch) {
        let n = scratch.symbols.count
        if n < 2 { return }
        if n > Self.heapThreshold {
            scratch.long.merge(&scratch.symbols, merges: merges)
            return
        }
        scratch.ranks.removeAll(keepingCapacity: true)
        scratch.mergedIds.removeAll(keepingCapacity: true)
        for i in 0..<(n - 1) {
            if let m = merges.lookup(scratch.symbols[i], scratch.symbols[i + 1]) {
                scratch.ranks.append(m.rank)
                scratch.mergedIds.append(m.merged)
            } else {
                scratch.ranks.append(Int32.max)
                scratch.mergedIds.append(-1)
            }
        }
        var count = n
        scratch.symbols.withUnsafeMutableBufferPointer { symbols in
            scratch.ranks.withUnsafeMutableBufferPointer { ranks in
                scratch.mergedIds.withUnsafeMutableBufferPointer { mergedIds in
                    while count > 1 {
                        var best = -1
                        var bestRank = Int32.max
                        for i in 0..<(count - 1) where ranks[i] < bestRank {
                            bestRank = ranks[i]
                            best = i
                        }
                        if best < 0 { break }
                        symbols[best] = mergedIds[best]
                        // Close the gap left by symbol best+1 and pair best.
                        var j = best + 1
                        while j < count - 1 {
                            symbols[j] = symbols[j + 1]
                            j += 1
                        }
                        j = best
                        while j < count - 2 {
                            ranks[j] = ranks[j + 1]
                            mergedIds[j] = mergedIds[j + 1]
                            j += 1
                        }
                        count -= 1
                        if best > 0 { refresh(best - 1, symbols, ranks, mergedIds) }
                        if best < count - 1 { refresh(best, symbols, ranks, mergedIds) }
                    }
                }
            }
        }
        scratch.symbols.removeSubrange(count...)
    }

    @inline(__always)
    private func refresh(_ i: Int, _ symbols: UnsafeMutableBufferPointer<Int32>, _ ranks: UnsafeMutableBufferPointer<Int32>,
                         _ mergedIds: UnsafeMutableBufferPointer<Int32>) {
        if let m = merges.lookup(symbols[i], symbols[i + 1]) {
            ranks[i] = m.rank
            mergedIds[i] = m.merged
        } else {
            ranks[i] = Int32.max
            mergedIds[i] = -1
        }
    }
}

enum UTF8Scalars {
    @inline(__always)
    static func sequenceLength(_ lead: UInt8) -> Int {
        if lead < 0x80 { return 1 }
        if lead < 0xE0 { return 2 }
        if lead < 0xF0 { return 3 }
        return 4
    }

    /// Appends the UTF-8 encoding of the scalars to `out`.
    @inline(__always)
    static func encode(_ scalars: UnsafeBufferPointer<UInt32>, _ range: Range<Int>, into out: inout [UInt8]) {
        for i in range {
            let v = scalars[i]
            if v < 0x80 {
                out.append(UInt8(v))
            } else if v < 0x800 {
                out.append(UInt8(0xC0 | (v >> 6)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            } else if v < 0x10000 {
                out.append(UInt8(0xE0 | (v >> 12)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            } else {
                out.append(UInt8(0xF0 | (v >> 18)))
                out.append(UInt8(0x80 | ((v >> 12) & 0x3F)))
                out.append(UInt8(0x80 | ((v >> 6) & 0x3F)))
                out.append(UInt8(0x80 | (v & 0x3F)))
            }
        }
    }
}
