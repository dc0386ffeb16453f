import Foundation

/// Router scores → top-k experts per token, as DeepSeek/Qwen/Mixtral routers do:
/// softmax or sigmoid scores, optional correction bias for choosing, optional group limit,
/// optional renormalisation, then a scale.
func cpuRoute(logits: Tensor, routing r: Routing, bias: [Float]?, ids: Tensor, weights: Tensor) throws {
    let experts = logits.rowSize, tokens = logits.rows
    guard experts % r.groups == 0, r.topK <= experts, ids.rowSize == r.topK, weights.rowSize == r.topK else {
        throw BackendError.invalidArgument("route: \(experts) experts, \(r.groups) groups, top \(r.topK), outputs \(ids.shape)/\(weights.shape)")
    }
    let perGroup = experts / r.groups
    var scores = [Float](repeating: 0, count: experts)
    var choice = [Float](repeating: 0, count: experts)
    for t in 0..<tokens {
        let row = logits.typedHost(Float.self) + t * logits.rowStride
        switch r.scoring {
        case .softmax:
            var maxLogit = -Float.infinity
            for e in 0..<experts { maxLogit = max(maxLogit, row[e]) }
            var total: Float = 0
            for e in 0..<experts { scores[e] = Foundation.exp(row[e] - maxLogit); total += scores[e] }
            for e in 0..<experts { scores[e] /= total }
        case .sigmoid:
            for e in 0..<experts { scores[e] = 1 / (1 + Foundation.exp(-row[e])) }
        }
        for e in 0..<experts { choice[e] = scores[e] + (bias?[e] ?? 0) }
        if r.groups > 1 {
            var groupScores: [(Float, Int)] = (0..<r.groups).map { g in
                let slice = choice[(g * perGroup)..<((g + 1) * perGroup)]
                switch r.groupScore {
                case .max: return (slice.max()!, g)
                case .topTwoSum:
                    let sorted = slice.sorted(by: >)
                    return (sorted[0] + (sorted.count > 1 ? sorted[1] : 0), g)
                }
            }
            groupScores.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            let kept = Set(groupScores.prefix(r.topKGroups).map(\.1))
            for g in 0..<r.groups where !kept.contains(g) {
                for e in (g * perGroup)..<((g + 1) * perGroup) { choice[e] = -.infinity }
            }
        }
        // Top-k by choice score (stable: lower id first on ties).
        var chosen: [Int] = []
        chosen.reserveCapacity(r.topK)
        for _ in 0..<r.topK {
            var best = -1
            for e in 0..<experts where !chosen.contains(e) {
                if best < 0 || choice[e] > choice[best] { best = e }
            }
            chosen.append(best)
        }
        var picked = chosen.map { scores[$0] }
        if r.normalize {
            let total = picked.reduce(0, +) + 1e-20
            picked = picked.map { $0 / total }
        }
        let idRow = ids.typedHost(Int32.self) + t * ids.rowStride
        let weightRow = weights.typedHost(Float.self) + t * weights.rowStride
        for k in 0..<r.topK {
            idRow[k] = Int32(chosen[k])
            weightRow[k] = picked[k] * r.scale
        }
    }
}

/// Mixture of experts by composition: for each local expert, gather its tokens, run its SwiGLU
/// MLP with the backend's linear op, and add the weighted result back to each token's row.
func cpuMoE(backend: CPUBackend, x: Tensor, ids: Tensor, weights: Tensor, experts: ExpertSet, out: Tensor) throws {
    let tokens = x.rows, topK = ids.rowSize, hidden = x.rowSize
    guard out.rows == tokens, out.rowSize == hidden else { throw BackendError.invalidArgument("moe: output \(out.shape) for \(x.shape)") }
    // Token lists per expert (counting sort by expert id).
    var rowsOf = [[Int32]](repeating: [], count: experts.expertCount)
    var weightOf = [[Float]](repeating: [], count: experts.expertCount)
    for t in 0..<tokens {
        for k in 0..<topK {
            let e = Int(ids.typedHost(Int32.self)[t * ids.rowStride + k])
            guard e >= 0 && e < experts.expertCount else { throw BackendError.invalidArgument("moe: expert id \(e)") }
            rowsOf[e].append(Int32(t))
            weightOf[e].append(weights.typedHost(Float.self)[t * weights.rowStride + k])
        }
    }
    for row in 0..<tokens { (out.typedHost(Float.self) + row * out.rowStride).update(repeating: 0, count: hidden) }
    for e in 0..<experts.expertCount where !rowsOf[e].isEmpty {
        let slot = experts.slotOfExpert[e]
        guard slot >= 0 else { continue }  // another rank's expert
        let mlp = experts.local[slot]
        let count = rowsOf[e].count, inner = mlp.gate.outFeatures
        let gathered = try backend.allocate([count, hidden], dtype: .f32)
        try backend.gatherRows(x, rows: try backend.upload(int32s: rowsOf[e], shape: [count]), out: gathered)
        let gateUp = try backend.allocate([count, 2 * inner], dtype: .f32)
        try backend.linear(gathered, mlp.gate, out: gateUp.columns(0..<inner))
        try backend.linear(gathered, mlp.up, out: gateUp.columns(inner..<2 * inner))
        let activated = try backend.allocate([count, inner], dtype: .f32)
        try backend.siluAndMul(gateUp, out: activated)
        let result = try backend.allocate([count, hidden], dtype: .f32)
        try backend.linear(activated, mlp.down, out: result)
        for (i, row) in rowsOf[e].enumerated() {
            axpy(weightOf[e][i], result.typedHost(Float.self) + i * hidden, out.typedHost(Float.self) + Int(row) * out.rowStride, hidden)
        }
    }
}
