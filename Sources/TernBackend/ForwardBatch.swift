/// One sequence's part of a batched model step.
public struct SequenceSpan: Sendable, Hashable {
    /// First row of this sequence's new tokens in the flattened token matrix.
    public var queryStart: Int
    /// New tokens this step (a prefill chunk, or 1 for decode).
    public var queryLength: Int
    /// Tokens in the KV cache after this step (cached prefix + new tokens).
    public var kvLength: Int
    /// Where this sequence's page list starts in `ForwardBatch.pageTable`.
    public var pageTableStart: Int

    public init(queryStart: Int, queryLength: Int, kvLength: Int, pageTableStart: Int) {
        self.queryStart = queryStart
        self.queryLength = queryLength
        self.kvLength = kvLength
        self.pageTableStart = pageTableStart
    }

    /// Position of the first new token.
    public var firstPosition: Int { kvLength - queryLength }
}

/// All tokens of one model step, flattened: prefill chunks and decode tokens of many requests in
/// one `[tokens, hidden]` matrix, never padded (as SGLang's ForwardBatch).
public struct ForwardBatch: Sendable {
    public var tokenIDs: [Int32]
    public var positions: [Int32]
    /// KV cache slot (page * pageSize + offset) each new token's K/V is written to.
    public var slots: [Int32]
    public var sequences: [SequenceSpan]
    /// Page ids of every sequence, concatenated; a sequence's pages cover its `kvLength` tokens.
    public var pageTable: [Int32]
    public var pageSize: Int
    /// Token rows whose logits are wanted (typically each sequence's last new token).
    public var logitRows: [Int32]

    public init(tokenIDs: [Int32], positions: [Int32], slots: [Int32], sequences: [SequenceSpan],
                pageTable: [Int32], pageSize: Int, logitRows: [Int32]) {
        self.tokenIDs = tokenIDs
        self.positions = positions
        self.slots = slots
        self.sequences = sequences
        self.pageTable = pageTable
        self.pageSize = pageSize
        self.logitRows = logitRows
    }

    public var tokenCount: Int { tokenIDs.count }

    /// KV rows of all sequences after this step (the sum of their `kvLength`).
    public var kvRowCount: Int { sequences.reduce(0) { $0 + $1.kvLength } }

    /// This batch over a dense copy of its sequences' cached rows: sequence after sequence from row 0,
    /// `kvRowCount` rows with one-token pages (MLA's expanded keys, the CPU's dequantized caches).
    public func overDenseKVRows() -> ForwardBatch {
        var dense = self
        dense.pageSize = 1
        dense.pageTable = (0..<kvRowCount).map { Int32($0) }
        var offset = 0
        for s in dense.sequences.indices {
            dense.sequences[s].pageTableStart = offset
            offset += dense.sequences[s].kvLength
        }
        return dense
    }

    /// A batch for sequences that each start from an empty cache and own consecutive pages
    /// (tests and simple tools). `pageSize` tokens per page; pages are numbered from `firstPage`.
    public static func contiguousPrefill(_ prompts: [[Int32]], pageSize: Int, firstPage: Int = 0,
                                         allLogits: Bool = false) -> ForwardBatch {
        var batch = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: [],
                                 pageSize: pageSize, logitRows: [])
        var nextPage = firstPage
        for prompt in prompts {
            let start = batch.tokenIDs.count
            let pages = (prompt.count + pageSize - 1) / pageSize
            let pageStart = batch.pageTable.count
            for p in 0..<pages { batch.pageTable.append(Int32(nextPage + p)) }
            for (i, token) in prompt.enumerated() {
                batch.tokenIDs.append(token)
                batch.positions.append(Int32(i))
                batch.slots.append(Int32((nextPage + i / pageSize) * pageSize + i % pageSize))
            }
            nextPage += pages
            batch.sequences.append(SequenceSpan(queryStart: start, queryLength: prompt.count,
                                                kvLength: prompt.count, pageTableStart: pageStart))
            if allLogits {
                batch.logitRows.append(contentsOf: (start..<start + prompt.count).map { Int32($0) })
            } else {
                batch.logitRows.append(Int32(start + prompt.count - 1))
            }
        }
        return batch
    }
}
