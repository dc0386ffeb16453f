import Foundation
import TernBackend
import TernCore

extension OpSuite {
    /// The GPU sampler against a host reference of the same rule (penalties, temperature, top-k,
    /// top-p, min-p (in that order), then the token where the index-ordered cumulative mass reaches u · total).
    mutating func sampling() {
        let vocab = 3000
        let settings: [(String, DeviceSamplingRow)] = [
            ("greedy", DeviceSamplingRow(temperature: 0, uniform: 0.5)),
            ("T 0.8", DeviceSamplingRow(temperature: 0.8, uniform: 0)),
            ("T 1 top-k 20", DeviceSamplingRow(temperature: 1, topK: 20, uniform: 0)),
            ("T 0.7 top-p 0.9", DeviceSamplingRow(temperature: 0.7, topP: 0.9, uniform: 0)),
            ("T 1.2 min-p 0.05 top-k 50", DeviceSamplingRow(temperature: 1.2, topK: 50, minP: 0.05, uniform: 0)),
            ("T 1 top-p 0.8 min-p 0.1", DeviceSamplingRow(temperature: 1, topP: 0.8, minP: 0.1, uniform: 0)),
            ("penalties rep 1.3 freq 0.5 pres 0.2", DeviceSamplingRow(temperature: 1, repetitionPenalty: 1.3, frequencyPenalty: 0.5,
                                                                    presencePenalty: 0.2, uniform: 0)),
        ]
        for (name, base) in settings {
            check("sample", name) { s in
                let rowsCount = 16
                var rows: [DeviceSamplingRow] = []
                for i in 0..<rowsCount {
                    var r = base
                    r.uniform = (Float(i) + 0.5) / Float(rowsCount)
                    if base.repetitionPenalty != 1 {
                        var seen = Set<Int32>()
                        let entries = (0..<20).map { _ in (Int32(s.random.below(vocab)), Int32(s.random.below(3))) }
                            .filter { seen.insert($0.0).inserted }
                        r.penaltyIDs = entries.map(\.0)
                        r.penaltyCounts = entries.map(\.1)
                    }
                    rows.append(r)
                }
                let values = s.values(rowsCount * vocab, scale: 6)
                let logits = try s.gpu.upload(floats: values, shape: [rowsCount, vocab], as: .f32)
                let got = try s.gpu.sample(logits, rows: rows)
                var mismatches = 0
                for (i, r) in rows.enumerated() {
                    let expected = Self.referenceSample(Array(values[i * vocab..<(i + 1) * vocab]), r)
                    if expected != got[i] { mismatches += 1 }
                }
                s.record("sample", name + " (16 rows, 3000 vocab)", error: Double(mismatches), tolerance: 0)
            }
        }
    }

    static func referenceSample(_ logits: [Float], _ r: DeviceSamplingRow) -> Int32 {
        var x = logits
        for (id, count) in zip(r.penaltyIDs, r.penaltyCounts) {
            var v = x[Int(id)]
            if r.repetitionPenalty != 1 { v = v > 0 ? v / r.repetitionPenalty : v * r.repetitionPenalty }
            if count > 0 { v -= r.frequencyPenalty * Float(count) + r.presencePenalty }
            x[Int(id)] = v
        }
        let best = x.max()!
        if r.temperature <= 0 { return Int32(x.firstIndex(of: best)!) }
        let w = x.map { Foundation.exp(($0 - best) / r.temperature) }
        // The host sampler's order: top-k, top-p over what top-k kept, then min-p (w is p / p_max).
        var threshold: Float = 0
        let sorted = w.sorted(by: >)
        if r.topK > 0 && r.topK < w.count { threshold = max(threshold, sorted[r.topK - 1]) }
        if r.topP < 1 {
            let kept = sorted.filter { $0 >= threshold }
            let target = r.topP * kept.reduce(0, +)
            var mass: Float = 0
            for v in kept {
                mass += v
                if mass >= target { threshold = max(threshold, v); break }
            }
        }
        if r.minP > 0 { threshold = max(threshold, r.minP) }
        let total = w.filter { $0 >= threshold }.reduce(0, +)
        let target = r.uniform * total
        var run: Float = 0
        var last = 0
        for (i, v) in w.enumerated() where v >= threshold {
            run += v
            last = i
            if run >= target { return Int32(i) }
        }
        return Int32(last)
    }
}
