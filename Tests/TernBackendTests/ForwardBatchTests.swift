import Testing
import TernBackend

@Suite struct ForwardBatchTests {
    @Test func overDenseKVRowsLaysSequencesOutBackToBackWithOneTokenPages() {
        // Two sequences on scattered 4-token pages: 6 cached rows (2 new) and 3 rows (1 new).
        let batch = ForwardBatch(tokenIDs: [1, 2, 3], positions: [4, 5, 2], slots: [37, 38, 9],
                                 sequences: [SequenceSpan(queryStart: 0, queryLength: 2, kvLength: 6, pageTableStart: 0),
                                             SequenceSpan(queryStart: 2, queryLength: 1, kvLength: 3, pageTableStart: 2)],
                                 pageTable: [7, 9, 2], pageSize: 4, logitRows: [1, 2])
        let dense = batch.overDenseKVRows()
        #expect(batch.kvRowCount == 9)
        #expect(dense.pageSize == 1)
        #expect(dense.pageTable == (0..<9).map { Int32($0) })
        #expect(dense.sequences.map(\.pageTableStart) == [0, 6])
        #expect(dense.sequences.map(\.kvLength) == [6, 3] && dense.sequences.map(\.queryStart) == [0, 2])
        // The new tokens, their positions and the logits rows are the step's own.
        #expect(dense.tokenIDs == batch.tokenIDs && dense.positions == batch.positions && dense.logitRows == batch.logitRows)
    }
}
