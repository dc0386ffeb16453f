import Foundation
import TernBackend
import TernCore

/// One row's sampling settings for `CUDABackend.sample`. `uniform` is the request's next draw in
/// [0, 1) from its own seeded generator (the host keeps the per-request random state).
public struct GPUSamplingRow: Sendable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var minP: Float
    public var repetitionPenalty: Float
    public var frequencyPenalty: Float
    public var presencePenalty: Float
    public var uniform: Float
    /// Token id → times it appeared in the output (0 for tokens seen only in the prompt: those
    /// get the repetition penalty but no frequency/presence penalty).
    public var penalties: [(id: Int32, outputCount: Int32)]

    public init(temperature: Float, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1,
                frequencyPenalty: Float = 0, presencePenalty: Float = 0, uniform: Float, penalties: [(id: Int32, outputCount: Int32)] = []) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.frequencyPenalty = frequencyPenalty
        self.presencePenalty = presencePenalty
        self.uniform = uniform
        self.penalties = penalties
    }
}

extension CUDABackend {
    /// Samples one token per row of fp32 `logits` `[rows, vocab]` on the GPU (the engine's host
    /// sampler can switch to this; only the chosen ids come back).
    public func sample(_ logits: Tensor, rows: [GPUSamplingRow]) throws -> [Int32] {
        try bind()
        try expect(logits.dtype == .f32 && logits.rows == rows.count, "sample: f32 logits with one row per setting")
        guard !rows.isEmpty else { return [] }
        // The kernel's SamplingRow: 8 four-byte fields then two ints, packed as 10 words.
        var words: [UInt32] = []
        var ids: [Int32] = [], counts: [Int32] = []
        for r in rows {
            words += [r.temperature.bitPattern, UInt32(bitPattern: Int32(r.topK)), r.topP.bitPattern, r.minP.bitPattern,
                      r.repetitionPenalty.bitPattern, r.frequencyPenalty.bitPattern, r.presencePenalty.bitPattern, r.uniform.bitPattern,
                      UInt32(ids.count), UInt32(r.penalties.count)]
            ids += r.penalties.map(\.id)
            counts += r.penalties.map(\.outputCount)
        }
        let table = try upload(int32s: words.map { Int32(bitPattern: $0) }, shape: [words.count])
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
