import TernBackend
import TernCore

extension OpSuite {
    /// The decode kernel's split-KV cases under each way of merging splits: in the attention kernel
    /// itself (one pass, per-(token, KV head) counters), `tern_decode_combine_w`, and the sequential
    /// `tern_decode_combine` (TERN_CUDA_DECODE_COMBINE picks one for real runs). Each case also
    /// checks that the forced path ran when the case splits at all.
    mutating func decodeCombineVariants(_ cases: [AttentionCase]) {
        defer { CUDABackend.decodeCombineOverride = nil }
        for mode in ["onepass", "wide", "old"] {
            CUDABackend.decodeCombineOverride = mode
            // The 33k-key cases are left to the default path above (the CPU reference is the slow part).
            for c in cases where c.sequences.allSatisfy({ $0.prefix < 10000 }) {
                var named = c
                named.name = "combine \(mode): " + c.name
                check("attention", named.name) { s in
                    let before = CUDABackend.decodeCombineLaunches
                    try s.attention(named)
                    let after = CUDABackend.decodeCombineLaunches
                    let split = after.values.reduce(0, +) > before.values.reduce(0, +)
                    let ran = (after[mode] ?? 0) > (before[mode] ?? 0)
                    s.record("attention", "combine \(mode) ran: " + c.name, error: !split || ran ? 0 : 1, tolerance: 0)
                }
            }
        }
        // One pass twice in a row on the same shape: the counters must be back at 0 after a launch.
        CUDABackend.decodeCombineOverride = "onepass"
        if let c = cases.first(where: { $0.name.hasPrefix("decode kernel batch 1 GQA") }) {
            for round in 0..<2 {
                var named = c
                named.name = "one pass repeat \(round): " + c.name
                check("attention", named.name) { s in try s.attention(named) }
            }
        }
    }
}
