import TernBackend

/// Lays a step's chunks out as one flattened `ForwardBatch`. Keeps its arrays between steps so
/// building a batch allocates nothing once capacities have grown.
final class BatchBuilder {
    let pageSize: Int
    private var tokenIDs: [Int32] = []
    private var positions: [Int32] = []
    private var slots: [Int32] = []
    private var sequences: [SequenceSpan] = []
    private var pageTable: [Int32] = []
    private var logitRows: [Int32] = []

    init(pageSize: Int) { self.pageSize = pageSize }

    func build(_ plan: [ScheduledChunk]) -> ForwardBatch {
        tokenIDs.removeAll(keepingCapacity: true)
        positions.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        sequences.removeAll(keepingCapacity: true)
        pageTable.removeAll(keepingCapacity: true)
        logitRows.removeAll(keepingCapacity: true)
        let size = pageSize
        for chunk in plan {
            let sequence = chunk.sequence
            let queryStart = tokenIDs.count
            let end = chunk.start + chunk.length
            sequence.tokens.withUnsafeBufferPointer { tokens in
                sequence.pages.withUnsafeBufferPointer { pages in
                    for position in chunk.start..<end {
                        tokenIDs.append(tokens[position])
                        positions.append(Int32(position))
                        slots.append(pages[position / size] * Int32(size) + Int32(position % size))
                    }
                }
            }
            let pageTableStart = pageTable.count
            pageTable.append(contentsOf: sequence.pages[0..<(end + size - 1) / size])
            sequences.append(SequenceSpan(queryStart: queryStart, queryLength: chunk.length, kvLength: end,
                                          pageTableStart: pageTableStart))
            if chunk.wantsLogits { logitRows.append(Int32(queryStart + chunk.length - 1)) }
        }
        return ForwardBatch(tokenIDs: tokenIDs, positions: positions, slots: slots, sequences: sequences,
                            pageTable: pageTable, pageSize: size, logitRows: logitRows)
    }
}
