import Foundation
import TernBackend
import TernCore

extension OpSuite {
    struct AttentionCase {
        var name: String
        /// (cached prefix, new tokens) per sequence.
        var sequences: [(prefix: Int, new: Int)]
        var heads: Int, kvHeads: Int, headDim: Int, valueDim: Int
        var window: Int? = nil
        /// MLA's layout: one KV head whose values are the first `valueDim` elements of each key row.
        var valuesInKeys = false
        var pageSize = 16
        /// bf16 or f8e4m3 (both backends then store e4m3(x / scale) and dequantize on read).
        var cacheDType: DType = .bf16
        var keyScale: Float = 1, valueScale: Float = 1
        /// The GPU's host-side plan sees this maximum KV length instead of the step's (as inside a
        /// decode graph, planned for the worst case while the device holds the real lengths).
        var planKVLength: Int? = nil
    }

    mutating func attentions() {
        let cases = [
            AttentionCase(name: "prefill 1/17/40, GQA 8/2 d64", sequences: [(0, 1), (0, 17), (0, 40)], heads: 8, kvHeads: 2, headDim: 64, valueDim: 64),
            AttentionCase(name: "single token, d128", sequences: [(0, 1)], heads: 4, kvHeads: 4, headDim: 128, valueDim: 128),
            AttentionCase(name: "prefix 33+5, 100+1 mixed, MHA d128", sequences: [(33, 5), (100, 1)], heads: 4, kvHeads: 4, headDim: 128, valueDim: 128),
            AttentionCase(name: "decode ×4, prefix 300-700, GQA 32/8", sequences: [(300, 1), (517, 1), (700, 1), (15, 1)], heads: 32, kvHeads: 8, headDim: 128, valueDim: 128),
            AttentionCase(name: "long prefix 1500+24 chunk, GQA 16/4", sequences: [(1500, 24)], heads: 16, kvHeads: 4, headDim: 128, valueDim: 128),
            AttentionCase(name: "sliding window 16, 20+30, 0+3", sequences: [(20, 30), (0, 3)], heads: 4, kvHeads: 2, headDim: 64, valueDim: 64, window: 16),
            AttentionCase(name: "MLA latent d576 v512, 0+9, 40+1", sequences: [(0, 9), (40, 1)], heads: 4, kvHeads: 1, headDim: 576, valueDim: 512, valuesInKeys: true, pageSize: 1),
            AttentionCase(name: "MLA latent page 16, decode 70+1", sequences: [(70, 1)], heads: 16, kvHeads: 1, headDim: 576, valueDim: 512, valuesInKeys: true),
            // tern_mla_attention with two 64-head blocks per token: decode at mixed lengths (split-KV), extend over a prefix.
            AttentionCase(name: "MLA 128 heads, decode 1+1, 700+1, 4100+1", sequences: [(1, 1), (700, 1), (4100, 1)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true),
            AttentionCase(name: "MLA 128 heads, prefill 0+37, extend 50+5", sequences: [(0, 37), (50, 5)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true),
            // bf16 edge cases: prefix > 32k (split-KV over a long context), page-unaligned lengths.
            AttentionCase(name: "long prefix 32800+2, 5+1, GQA 8/2", sequences: [(32800, 2), (5, 1)], heads: 8, kvHeads: 2, headDim: 128, valueDim: 128),
        ]
        // FP8 KV cache: flash (d64/d128, split-KV decode), general kernel (MLA latent), gather.
        let e4m3 = DType.f8e4m3
        let fp8Cases = [
            AttentionCase(name: "fp8 prefill 1/17/40, GQA 8/2 d64", sequences: [(0, 1), (0, 17), (0, 40)], heads: 8, kvHeads: 2, headDim: 64,
                          valueDim: 64, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.25),
            AttentionCase(name: "fp8 single token d128", sequences: [(0, 1)], heads: 4, kvHeads: 4, headDim: 128, valueDim: 128, cacheDType: e4m3),
            AttentionCase(name: "fp8 prefix 33+5, 100+1 mixed, MHA d128", sequences: [(33, 5), (100, 1)], heads: 4, kvHeads: 4, headDim: 128,
                          valueDim: 128, cacheDType: e4m3, keyScale: 0.75, valueScale: 1.5),
            AttentionCase(name: "fp8 decode ×4, prefix 300-700, GQA 32/8", sequences: [(300, 1), (517, 1), (700, 1), (15, 1)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.5),
            AttentionCase(name: "fp8 decode prefix 33000+1, 1+1, GQA 32/8", sequences: [(33000, 1), (1, 1)], heads: 32, kvHeads: 8, headDim: 128,
                          valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 2),
            AttentionCase(name: "fp8 sliding window 16, 20+30, 0+3", sequences: [(20, 30), (0, 3)], heads: 4, kvHeads: 2, headDim: 64, valueDim: 64,
                          window: 16, cacheDType: e4m3),
            AttentionCase(name: "fp8 MLA latent d576 v512, 0+9, 40+1", sequences: [(0, 9), (40, 1)], heads: 4, kvHeads: 1, headDim: 576,
                          valueDim: 512, valuesInKeys: true, pageSize: 1, cacheDType: e4m3, keyScale: 0.5),
            AttentionCase(name: "fp8 MLA latent page 16, decode 70+1, 3+1", sequences: [(70, 1), (3, 1)], heads: 16, kvHeads: 1, headDim: 576,
                          valueDim: 512, valuesInKeys: true, cacheDType: e4m3, keyScale: 0.25),
            AttentionCase(name: "fp8 MLA 128 heads, 2000+1, 9+1, 0+20", sequences: [(2000, 1), (9, 1), (0, 20)], heads: 128, kvHeads: 1,
                          headDim: 576, valueDim: 512, valuesInKeys: true, cacheDType: e4m3, keyScale: 0.5),
        ]
        // The paged decode kernel (tern_decode_attention*; TERN_CUDA_DECODE_ATTN=old runs the flash
        // path instead): groups 1–16, d64/d128, kv lengths 1/17/1000/33000, pages 1/16/64, mixed
        // lengths, sliding window, and the worst-case plan of a decode graph.
        let decodeCases = [
            AttentionCase(name: "decode kernel G1 d64 page 1, len 1/17/1000", sequences: [(0, 1), (16, 1), (999, 1)], heads: 4, kvHeads: 4,
                          headDim: 64, valueDim: 64, pageSize: 1),
            AttentionCase(name: "decode kernel G4 d128 page 16, len 1/17/1000/33000", sequences: [(0, 1), (16, 1), (999, 1), (32999, 1)],
                          heads: 32, kvHeads: 8, headDim: 128, valueDim: 128),
            AttentionCase(name: "decode kernel G8 d128 page 64, len 17/1000", sequences: [(16, 1), (999, 1)], heads: 16, kvHeads: 2,
                          headDim: 128, valueDim: 128, pageSize: 64),
            AttentionCase(name: "decode kernel G16 d64 page 16, len 1000/6", sequences: [(999, 1), (5, 1)], heads: 32, kvHeads: 2,
                          headDim: 64, valueDim: 64),
            AttentionCase(name: "decode kernel G6 d128 page 16, len 130/64", sequences: [(129, 1), (63, 1)], heads: 24, kvHeads: 4,
                          headDim: 128, valueDim: 128),
            AttentionCase(name: "decode kernel window 100, len 1000/30", sequences: [(999, 1), (29, 1)], heads: 8, kvHeads: 2,
                          headDim: 128, valueDim: 128, window: 100),
            AttentionCase(name: "decode kernel graph plan 64k, len 1/17/1000", sequences: [(0, 1), (16, 1), (999, 1)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128, planKVLength: 65536),
            // Batch 1 as in the Llama-8B decode bench (2-tile splits, tern_decode_combine_w over 9
            // splits), and a batch-1 graph plan of 64k keys: 128 splits (the wide combine's limit),
            // all but 8 of them empty.
            AttentionCase(name: "decode kernel batch 1 GQA 32/8, len 1024", sequences: [(1023, 1)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128),
            AttentionCase(name: "decode kernel batch 1 graph plan 64k, len 1000", sequences: [(999, 1)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128, planKVLength: 65536),
            AttentionCase(name: "fp8 decode kernel G1 d128 page 1, len 1/17/1000", sequences: [(0, 1), (16, 1), (999, 1)], heads: 4, kvHeads: 4,
                          headDim: 128, valueDim: 128, pageSize: 1, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.25),
            AttentionCase(name: "fp8 decode kernel G4 d64 page 64, len 1/17/1000/33000", sequences: [(0, 1), (16, 1), (999, 1), (32999, 1)],
                          heads: 16, kvHeads: 4, headDim: 64, valueDim: 64, pageSize: 64, cacheDType: e4m3, keyScale: 0.75, valueScale: 1.5),
            AttentionCase(name: "fp8 decode kernel G8 d128 page 16, len 17/1000", sequences: [(16, 1), (999, 1)], heads: 16, kvHeads: 2,
                          headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 2),
            AttentionCase(name: "fp8 decode kernel G16 d128 page 16, len 1000/2", sequences: [(999, 1), (1, 1)], heads: 32, kvHeads: 2,
                          headDim: 128, valueDim: 128, cacheDType: e4m3),
            AttentionCase(name: "fp8 decode kernel window 100 G4 d64, len 1000/30", sequences: [(999, 1), (29, 1)], heads: 8, kvHeads: 2,
                          headDim: 64, valueDim: 64, window: 100, cacheDType: e4m3, keyScale: 0.5),
            AttentionCase(name: "fp8 decode kernel graph plan 64k, len 1/1000", sequences: [(0, 1), (999, 1)], heads: 32, kvHeads: 8,
                          headDim: 128, valueDim: 128, cacheDType: e4m3, keyScale: 0.5, valueScale: 0.5, planKVLength: 65536),
        ]
        for c in cases + fp8Cases + decodeCases + Self.flashPrefillCases { check("attention", c.name) { s in try s.attention(c) } }
        flashPrefillVariants()
        mlaDecodeV2Variants()
        decodeCombineVariants(decodeCases)
    }

    mutating func attention(_ c: AttentionCase) throws {
        let ps = c.pageSize
        let pagesPer = c.sequences.map { ($0.prefix + $0.new + ps - 1) / ps }
        let pageCount = pagesPer.reduce(0, +) + 3
        // Pages handed out in a shuffled order, so the page table really is used.
        var free = Array(0..<pageCount)
        for i in stride(from: free.count - 1, to: 0, by: -1) { free.swapAt(i, random.below(i + 1)) }
        var pageTable: [Int32] = []
        var starts: [Int] = []
        for p in pagesPer {
            starts.append(pageTable.count)
            pageTable.append(contentsOf: free.prefix(p).map { Int32($0) })
            free.removeFirst(p)
        }
        func slot(_ s: Int, _ j: Int) -> Int32 { pageTable[starts[s] + j / ps] * Int32(ps) + Int32(j % ps) }
        // A batch of the tokens [from, to) of every sequence.
        func batch(_ range: (Int) -> Range<Int>) -> ForwardBatch {
            var b = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: pageTable, pageSize: ps, logitRows: [])
            for (s, _) in c.sequences.enumerated() {
                let r = range(s)
                b.sequences.append(SequenceSpan(queryStart: b.tokenIDs.count, queryLength: r.count, kvLength: r.upperBound, pageTableStart: starts[s]))
                for j in r {
                    b.tokenIDs.append(0)
                    b.positions.append(Int32(j))
                    b.slots.append(slot(s, j))
                }
                b.logitRows.append(Int32(b.tokenIDs.count - 1))
            }
            return b
        }
        let full = batch { 0..<(c.sequences[$0].prefix + c.sequences[$0].new) }
        let step = batch { c.sequences[$0].prefix..<(c.sequences[$0].prefix + c.sequences[$0].new) }
        let keyDim = c.valuesInKeys ? c.headDim : c.headDim
        let fp8 = c.cacheDType == .f8e4m3
        let layoutCPU = KVCacheLayout(layers: 1, kvHeads: c.kvHeads, keyDim: keyDim, valueDim: c.valuesInKeys ? 0 : c.valueDim,
                                      dtype: fp8 ? .f8e4m3 : .f32)
        var layoutGPU = layoutCPU
        layoutGPU.dtype = c.cacheDType
        let scales = (keys: [c.keyScale], values: [c.valuesInKeys ? c.keyScale : c.valueScale])
        let cacheC = try cpu.makeKVCache(layout: layoutCPU, pageSize: ps, pageCount: pageCount).withScales(keys: scales.keys, values: scales.values)
        let cacheG = try gpu.makeKVCache(layout: layoutGPU, pageSize: ps, pageCount: pageCount).withScales(keys: scales.keys, values: scales.values)
        let (kc, kg) = try pair(full.tokenCount, c.kvHeads * keyDim, scale: 2)
        let values = c.valuesInKeys ? nil : try pair(full.tokenCount, c.kvHeads * c.valueDim)
        try cpu.storeKV(key: kc, value: values?.cpu, cache: cacheC, layer: 0, batch: try cpu.prepare(full))
        try gpu.storeKV(key: kg, value: values?.gpu, cache: cacheG, layer: 0, batch: try gpu.prepare(full))

        let p = AttentionParameters(heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, valueDim: c.valueDim,
                                    scale: 1 / Float(c.headDim).squareRoot(), slidingWindow: c.window)
        let (qc, qg) = try pair(step.tokenCount, c.heads * c.headDim, scale: 2)
        let (oc, og) = try outputs(step.tokenCount, c.heads * c.valueDim)
        try cpu.attention(query: qc, cache: cacheC, layer: 0, batch: try cpu.prepare(step), parameters: p, out: oc)
        var preparedG = try gpu.prepare(step)
        if let plan = c.planKVLength, let state = preparedG.attentionState as? CUDAAttentionState {
            preparedG = PreparedBatch(batch: preparedG.batch, tokenIDs: preparedG.tokenIDs, positions: preparedG.positions, slots: preparedG.slots,
                                      logitRows: preparedG.logitRows,
                                      attentionState: CUDAAttentionState(tokenPositions: state.tokenPositions, tokenPageStarts: state.tokenPageStarts,
                                                                         pageTable: state.pageTable, maxKVLength: plan))
        }
        try gpu.attention(query: qg, cache: cacheG, layer: 0, batch: preparedG, parameters: p, out: og)
        try compare("attention", c.name, oc, og)
        if fp8 {
            // Quantize-on-write must give the CPU's codes exactly (same rounding, same scale).
            // Counted over the written slots (the rest of the GPU pool is uninitialised).
            let keysC = cacheC.keys[0], width = keysC.rowSize
            let codesG = try gpu.downloadBytes(cacheG.keys[0])
            let host = keysC.hostPointer.assumingMemoryBound(to: UInt8.self)
            var mismatches = 0
            for slot in full.slots.map(Int.init) {
                for i in 0..<width where host[slot * keysC.rowStride + i] != codesG[slot * cacheG.keys[0].rowStride + i] { mismatches += 1 }
            }
            record("storeKV fp8", c.name, error: Double(mismatches), tolerance: 0)
        }

        if c.valuesInKeys {
            let total = step.sequences.reduce(0) { $0 + $1.kvLength }
            let (gc, gg) = try outputs(total, c.kvHeads * keyDim)
            try cpu.gatherCachedKeys(cache: cacheC, layer: 0, batch: try cpu.prepare(step), out: gc)
            try gpu.gatherCachedKeys(cache: cacheG, layer: 0, batch: try gpu.prepare(step), out: gg)
            try compare("gatherCachedKeys", c.name, gc, gg, tolerance: 0)
        }
    }

    mutating func routing() {
        struct RouteCase { var name: String; var tokens: Int; var experts: Int; var scoring: Routing.Scoring; var topK: Int
            var groups = 1; var topKGroups = 1; var groupScore = Routing.GroupScore.max; var bias = false; var normalize = false; var scale: Float = 1 }
        let cases = [
            RouteCase(name: "softmax 8 experts top 2, 1 token", tokens: 1, experts: 8, scoring: .softmax, topK: 2),
            RouteCase(name: "softmax 60 top 4 norm, 19 tokens", tokens: 19, experts: 60, scoring: .softmax, topK: 4, normalize: true),
            RouteCase(name: "sigmoid 64, 8 groups top 3, bias, top-2 sum", tokens: 17, experts: 64, scoring: .sigmoid, topK: 6, groups: 8,
                      topKGroups: 3, groupScore: .topTwoSum, bias: true, normalize: true, scale: 2.5),
            RouteCase(name: "softmax 32, 4 groups (max) top 2", tokens: 5, experts: 32, scoring: .softmax, topK: 3, groups: 4, topKGroups: 2),
            RouteCase(name: "V3: sigmoid 256, 8 groups top 4, top 8, bias", tokens: 33, experts: 256, scoring: .sigmoid, topK: 8, groups: 8,
                      topKGroups: 4, groupScore: .topTwoSum, bias: true, normalize: true, scale: 2.5),
            RouteCase(name: "softmax 128 top 8 norm (Qwen3), 40 tokens", tokens: 40, experts: 128, scoring: .softmax, topK: 8, normalize: true),
        ]
        for r in cases {
            check("route", r.name) { s in
                let (lc, lg) = try s.pair(r.tokens, r.experts, dtype: .f32, scale: 4)
                let biasValues = r.bias ? s.values(r.experts, scale: 0.5) : []
                func routing(_ b: any Backend) throws -> Routing {
                    Routing(scoring: r.scoring, topK: r.topK, groups: r.groups, topKGroups: r.topKGroups, groupScore: r.groupScore,
                            correctionBias: r.bias ? try b.upload(floats: biasValues, shape: [r.experts], as: .f32) : nil,
                            normalize: r.normalize, scale: r.scale)
                }
                let ic = try s.cpu.allocate([r.tokens, r.topK], dtype: .i32), ig = try s.gpu.allocate([r.tokens, r.topK], dtype: .i32)
                let (wc, wg) = try s.outputs(r.tokens, r.topK, dtype: .f32)
                try s.cpu.route(lc, routing: try routing(s.cpu), expertIDs: ic, expertWeights: wc)
                try s.gpu.route(lg, routing: try routing(s.gpu), expertIDs: ig, expertWeights: wg)
                let a = try s.cpu.downloadInt32s(ic), b = try s.gpu.downloadInt32s(ig)
                s.record("route", r.name + " (ids)", error: Double(zip(a, b).filter { $0 != $1 }.count), tolerance: 0)
                try s.compare("route", r.name + " (weights)", wc, wg, tolerance: 1e-5)
            }
        }
    }

    mutating func mixtureOfExperts() {
        for tokens in [1, 13] {
            check("moe", "8 experts top 2, \(tokens) tokens, 1 remote") { s in
                let experts = 8, topK = 2, hidden = 64, inner = 96
                var cpuExperts: [ExpertMLP] = [], gpuExperts: [ExpertMLP] = []
                for _ in 0..<experts {
                    let g = try s.plainLayer(n: inner, k: hidden, bias: false), u = try s.plainLayer(n: inner, k: hidden, bias: false)
                    let d = try s.plainLayer(n: hidden, k: inner, bias: false)
                    cpuExperts.append(ExpertMLP(gate: g.cpu, up: u.cpu, down: d.cpu))
                    gpuExperts.append(ExpertMLP(gate: g.gpu, up: u.gpu, down: d.gpu))
                }
                // Expert 5 lives on another rank: its slot is -1 and it contributes nothing here.
                let slots = (0..<experts).map { $0 == 5 ? -1 : $0 }
                var ids: [Int32] = []
                for _ in 0..<tokens {
                    let a = s.random.below(experts)
                    var b = s.random.below(experts)
                    if b == a { b = (a + 1) % experts }
                    ids += [Int32(a), Int32(b)]
                }
                let weights = s.values(tokens * topK).map { abs($0) }
                let (xc, xg) = try s.pair(tokens, hidden)
                let (oc, og) = try s.outputs(tokens, hidden)
                try s.cpu.moe(xc, expertIDs: try s.cpu.upload(int32s: ids, shape: [tokens, topK]),
                              expertWeights: try s.cpu.upload(floats: weights, shape: [tokens, topK], as: .f32),
                              experts: ExpertSet(slotOfExpert: slots, local: cpuExperts), out: oc)
                try s.gpu.moe(xg, expertIDs: try s.gpu.upload(int32s: ids, shape: [tokens, topK]),
                              expertWeights: try s.gpu.upload(floats: weights, shape: [tokens, topK], as: .f32),
                              experts: ExpertSet(slotOfExpert: slots, local: gpuExperts), out: og)
                try s.compare("moe", "8 experts top 2, \(tokens) tokens, 1 remote", oc, og)
            }
        }
    }
}
