import Foundation
import TernBackend
import TernCore
import TernCUDA
import TernModels

extension OpSuite {
    /// Decode steps replayed from CUDA graphs against the plain forward on the same inputs: a
    /// fixture model, sequences of different lengths that grow each step, the batch shrinking and
    /// growing (so buckets are padded and several graphs are captured). Both forwards write the
    /// same K/V slots, so each step compares like with like.
    mutating func runDecodeGraph(directory: String) {
        let dir = URL(fileURLWithPath: directory).appendingPathComponent("llama-bf16")
        guard FileManager.default.fileExists(atPath: dir.appendingPathComponent("config.json").path) else { return }
        check("decode graph", "llama-bf16, buckets 1/2/4") { suite in
            let gpu = suite.gpu
            let model = try ModelLoader.load(directory: dir, backend: gpu)
            let pageSize = 4, perSequence = 8, sequences = 3
            let cache = try model.makeKVCache(pageSize: pageSize, pageCount: perSequence * sequences + 1)
            let graphs = CUDADecodeGraphs(backend: gpu, pageSize: pageSize, maxPagesPerSequence: perSequence,
                                          scratchPage: perSequence * sequences, buckets: [1, 2, 4])
            var lengths = [5, 9, 2]
            let vocab = Int32(model.config.vocabSize)
            // Prefill: sequence s owns pages s·perSequence ..< (s+1)·perSequence.
            var prefill = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: [], pageSize: pageSize, logitRows: [])
            for s in 0..<sequences {
                prefill.sequences.append(SequenceSpan(queryStart: prefill.tokenIDs.count, queryLength: lengths[s], kvLength: lengths[s],
                                                      pageTableStart: prefill.pageTable.count))
                prefill.pageTable += (0..<perSequence).map { Int32(s * perSequence + $0) }
                for i in 0..<lengths[s] {
                    prefill.tokenIDs.append(Int32((s * 31 + i * 7) % Int(vocab)))
                    prefill.positions.append(Int32(i))
                    prefill.slots.append(Int32(s * perSequence * pageSize + i))
                }
                prefill.logitRows.append(Int32(prefill.tokenIDs.count - 1))
            }
            _ = try model.forward(prefill, cache: cache)
            var worst = 0.0
            for (step, active) in [[0, 1, 2], [0, 1, 2], [1, 2], [0, 1, 2], [2], [0, 2]].enumerated() {
                var batch = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: [], pageSize: pageSize, logitRows: [])
                for (row, s) in active.enumerated() {
                    let position = lengths[s]
                    batch.tokenIDs.append(Int32((step * 13 + s * 5 + 1) % Int(vocab)))
                    batch.positions.append(Int32(position))
                    batch.slots.append(Int32(s * perSequence * pageSize + position))
                    batch.sequences.append(SequenceSpan(queryStart: row, queryLength: 1, kvLength: position + 1, pageTableStart: batch.pageTable.count))
                    batch.pageTable += (0..<(position / pageSize + 1)).map { Int32(s * perSequence + $0) }
                    batch.logitRows.append(Int32(row))
                    lengths[s] += 1
                }
                let plain = try gpu.downloadFloats(try model.forward(batch, cache: cache))
                let replayed = try gpu.downloadFloats(try graphs.forward(batch) { try model.forward($0, cache: cache) })
                guard plain.count == replayed.count else { throw BackendError.invalidArgument("graph logits \(replayed.count) vs \(plain.count)") }
                let scale = plain.map { abs(Double($0)) }.max() ?? 1
                let diff = zip(plain, replayed).map { abs(Double($0) - Double($1)) }.max() ?? 0
                worst = max(worst, diff / max(scale, 1e-6))
            }
            suite.record("decode graph", "llama-bf16, 6 steps, buckets 1/2/4", error: worst, tolerance: 1.5e-2)  // bf16 rounding (split-KV plans may differ)
        }
    }
}
