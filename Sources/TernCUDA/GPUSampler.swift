import Foundation
import TernBackend
import TernCore

extension DeviceSamplingRow {
    /// The kernel's `SamplingRow` (Kernels/sampling.cu): 8 four-byte settings, then the start and
    /// count of the row's (id, output count) penalty entries — 10 words.
    static let kernelWords = 10

    /// Writes this row's 10 words at `w`; its penalty entries start at `penaltyStart`.
    func writeKernelWords(_ w: UnsafeMutablePointer<Int32>, penaltyStart: Int) {
        w[0] = Int32(bitPattern: temperature.bitPattern); w[1] = Int32(clamping: topK)
        w[2] = Int32(bitPattern: topP.bitPattern); w[3] = Int32(bitPattern: minP.bitPattern)
        w[4] = Int32(bitPattern: repetitionPenalty.bitPattern); w[5] = Int32(bitPattern: frequencyPenalty.bitPattern)
        w[6] = Int32(bitPattern: presencePenalty.bitPattern); w[7] = Int32(bitPattern: uniform.bitPattern)
        w[8] = Int32(penaltyStart); w[9] = Int32(penaltyIDs.count)
    }
}

extension CUDABackend {
    /// Samples one token per row of fp32 `logits` `[rows, vocab]` on the GPU; only the chosen ids come
    /// back. (The engine's step executor stages the same rows through pinned memory instead.)
    public func sample(_ logits: Tensor, rows: [DeviceSamplingRow]) throws -> [Int32] {
        try bind()
        try expect(logits.dtype == .f32 && logits.rows == rows.count, "sample: f32 logits with one row per setting")
        guard !rows.isEmpty else { return [] }
        var words = [Int32](repeating: 0, count: rows.count * DeviceSamplingRow.kernelWords)
        var ids: [Int32] = [], counts: [Int32] = []
        words.withUnsafeMutableBufferPointer { buffer in
            for (i, r) in rows.enumerated() {
                r.writeKernelWords(buffer.baseAddress! + i * DeviceSamplingRow.kernelWords, penaltyStart: ids.count)
                ids += r.penaltyIDs
                counts += r.penaltyCounts
            }
        }
        let table = try upload(int32s: words, shape: [words.count])
        let idTensor = try upload(int32s: ids.isEmpty ? [0] : ids, shape: [max(ids.count, 1)])
        let countTensor = try upload(int32s: counts.isEmpty ? [0] : counts, shape: [max(counts.count, 1)])
        let scratch = try allocate([rows.count, logits.rowSize], dtype: .f32)
        let out = try allocate([rows.count], dtype: .i32)
        try launch("tern_sample", grid: (rows.count, 1, 1), block: 1024,
                   [ptr(logits), .int64(Int64(logits.rowStride)), .int(Int32(logits.rowSize)), ptr(table), ptr(idTensor), ptr(countTensor),
                    ptr(scratch), ptr(out)])
        return try downloadInt32s(out)
    }
}
