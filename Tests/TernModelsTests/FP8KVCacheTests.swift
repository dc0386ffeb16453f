import Foundation
import Testing
import TernBackend
import TernCheckpoint
import TernCore
import TernModels

/// FP8 (e4m3) KV cache on the CPU backend, the exact reference the CUDA kernels are checked against.
@Suite struct FP8KVCacheTests {
    static func load(_ fixture: String, _ kv: KVCacheDTypeChoice, form: MLAForm = .automatic) throws -> any LanguageModel {
        try ModelLoader.load(directory: Fixtures.directory(fixture), backend: CPUBackend(),
                             options: ModelBuildOptions(mlaForm: form, kvCacheDType: kv))
    }

    /// Prompt logits (every position) with a fresh cache, optionally with FP8 scales, and the cache.
    static func logits(_ model: any LanguageModel, _ prompt: [Int32], scales: (keys: [Float], values: [Float])? = nil) throws -> ([[Float]], KVCache) {
        var cache = try model.makeKVCache(pageSize: 4, pageCount: (prompt.count + 3) / 4)
        if let scales { cache = cache.withScales(keys: scales.keys, values: scales.values) }
        let batch = ForwardBatch.contiguousPrefill([prompt], pageSize: 4, allLogits: true)
        let flat = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        let vocab = model.config.vocabSize
        return ((0..<prompt.count).map { Array(flat[$0 * vocab..<($0 + 1) * vocab]) }, cache)
    }

    /// Per-layer amax / 448 of an f32 cache: the calibrated k_scale / v_scale an FP8 checkpoint carries.
    static func calibratedScales(_ cache: KVCache) -> (keys: [Float], values: [Float]) {
        func amax(_ t: Tensor) -> Float {
            let p = t.hostPointer.assumingMemoryBound(to: Float.self)
            return (0..<(t.rows * t.rowStride)).reduce(Float(0)) { max($0, abs(p[$1])) }
        }
        let keys = cache.keys.map { max(amax($0), 1e-6) / 448 }
        return (keys, cache.values.isEmpty ? keys : cache.values.map { max(amax($0), 1e-6) / 448 })
    }

    struct Deviation: CustomStringConvertible {
        var relative: Float = 0, agree = 0, positions = 0
        var description: String { String(format: "max |Δlogit|/range %.2e, top-1 %d/%d", relative, agree, positions) }
        mutating func add(_ x: [Float], _ y: [Float]) {
            relative = max(relative, zip(x, y).map { abs($0 - $1) }.max()! / (x.max()! - x.min()!))
            agree += x.firstIndex(of: x.max()!) == y.firstIndex(of: y.max()!) ? 1 : 0
            positions += 1
        }
    }

    /// What the cache dtype does to one fixture's prompt logits against the f32 cache, over every
    /// position of every prompt: bf16, fp8 with scale 1 (no checkpoint scales), fp8 with scales
    /// calibrated from the prompt's own f32 cache (amax / 448).
    static func deviations(_ fixture: String, form: MLAForm = .automatic) throws -> (bf16: Deviation, fp8: Deviation, fp8Calibrated: Deviation) {
        let exact = try load(fixture, .auto, form: form), bf16 = try load(fixture, .bf16, form: form)
        let fp8 = try load(fixture, .fp8E4M3, form: form)
        var d = (bf16: Deviation(), fp8: Deviation(), fp8Calibrated: Deviation())
        for prompt in try Fixtures.reference(fixture) {
            let (a, cache) = try logits(exact, prompt.inputIDs)
            let (b, _) = try logits(bf16, prompt.inputIDs), (c, _) = try logits(fp8, prompt.inputIDs)
            let (e, _) = try logits(fp8, prompt.inputIDs, scales: calibratedScales(cache))
            for i in a.indices { d.bf16.add(a[i], b[i]); d.fp8.add(a[i], c[i]); d.fp8Calibrated.add(a[i], e[i]) }
        }
        return d
    }

    @Test func fp8LayoutHalvesBytesPerTokenSoThePoolHoldsTwiceTheTokens() throws {
        let bf16 = try Self.load("llama", .bf16), fp8 = try Self.load("llama", .fp8E4M3)
        #expect(bf16.kvLayout.dtype == .bf16 && fp8.kvLayout.dtype == .f8e4m3)
        #expect(fp8.kvLayout.bytesPerToken * 2 == bf16.kvLayout.bytesPerToken)
        let bytes = 1 << 20
        #expect(fp8.pageCount(forBytes: bytes, pageSize: 16) == 2 * bf16.pageCount(forBytes: bytes, pageSize: 16))
        // The allocation really is one byte per element.
        let cache = try fp8.makeKVCache(pageSize: 16, pageCount: 3)
        #expect(cache.keys[0].dtype == .f8e4m3 && cache.keys[0].storage.byteCount == 48 * cache.keys[0].rowSize)
        let mla = try Self.load("deepseek-v3", .fp8E4M3)
        #expect(mla.kvLayout.bytesPerToken == mla.config.layers * (mla.config.mla!.cacheWidth))
    }

    @Test func fp8ScalesComeFromTheCheckpointsKAndVScaleTensors() throws {
        // The llama fixture plus a second shard holding k_scale (shape []) and v_scale (shape [1]).
        let source = Fixtures.directory("llama"), fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("tern-kvscale-\(UUID().uuidString)")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        for name in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
            try fm.createSymbolicLink(at: dir.appendingPathComponent(name), withDestinationURL: source.appendingPathComponent(name))
        }
        try fm.createSymbolicLink(at: dir.appendingPathComponent("a.safetensors"), withDestinationURL: source.appendingPathComponent("model.safetensors"))
        let layers = try ModelConfig.load(directory: source).layers
        var tensors: [TensorToWrite] = []
        for i in 0..<layers {
            tensors.append(TensorToWrite(name: "model.layers.\(i).self_attn.k_scale", dtype: .f32, shape: [], floats: [0.01 * Float(i + 1)]))
            tensors.append(TensorToWrite(name: "model.layers.\(i).self_attn.v_scale", dtype: .f32, shape: [1], floats: [0.02 * Float(i + 1)]))
        }
        try SafeTensorsWriter.write(tensors, to: dir.appendingPathComponent("b.safetensors").path)
        let model = try ModelLoader.load(directory: dir, backend: CPUBackend(), options: ModelBuildOptions(kvCacheDType: .fp8E4M3))
        let cache = try model.makeKVCache(pageSize: 4, pageCount: 2)
        #expect(cache.keyScales == (0..<layers).map { 0.01 * Float($0 + 1) })
        #expect(cache.valueScales == (0..<layers).map { 0.02 * Float($0 + 1) })
        // Without the FP8 cache the scales are not used (and not required).
        let plain = try ModelLoader.load(directory: dir, backend: CPUBackend())
        #expect(plain.kvScales == nil && plain.kvLayout.dtype == .f32)
    }

    @Test func storeKVQuantizesWithTheLayerScaleAndReadsBackWithinHalfAnE4M3Step() throws {
        let cpu = CPUBackend()
        let layout = KVCacheLayout(layers: 2, kvHeads: 1, keyDim: 8, valueDim: 0, dtype: .f8e4m3)
        let cache = try cpu.makeKVCache(layout: layout, pageSize: 4, pageCount: 1).withScales(keys: [1, 0.01], values: [1, 1])
        let x: [Float] = [0.3, -1.7, 2.45, 0.001, -0.0042, 3.9, 0.05, -0.37]
        let key = try cpu.upload(floats: x, shape: [1, 8], as: .f32)
        let batch = ForwardBatch(tokenIDs: [0], positions: [0], slots: [0],
                                 sequences: [SequenceSpan(queryStart: 0, queryLength: 1, kvLength: 1, pageTableStart: 0)],
                                 pageTable: [0], pageSize: 4, logitRows: [0])
        let prepared = try cpu.prepare(batch)
        // Layer 1's scale 0.01 keeps 3.9 / 0.01 = 390 inside e4m3's ±448.
        try cpu.storeKV(key: key, value: nil, cache: cache, layer: 1, batch: prepared)
        let codes = cache.keys[1].hostPointer.assumingMemoryBound(to: UInt8.self)
        for i in 0..<8 { #expect(codes[i] == encodeE4M3(x[i] / 0.01)) }
        let out = try cpu.allocate([1, 8], dtype: .f32)
        try cpu.gatherCachedKeys(cache: cache, layer: 1, batch: prepared, out: out)
        let back = try cpu.downloadFloats(out)
        for i in 0..<8 {
            // Normal e4m3: relative error ≤ 2^-4; below 2^-6 · scale, absolute error ≤ 2^-10 · scale.
            #expect(abs(back[i] - x[i]) <= max(abs(x[i]) / 16, 0.01 / 1024) * 1.0001, "x \(x[i]) → \(back[i])")
            #expect(back[i] == decodeE4M3(codes[i]) * 0.01)
        }
    }

    /// Bound: e4m3 keeps 3 mantissa bits (relative rounding error ≤ 2^-4 per element, 16× bf16's
    /// 2^-8), so the logit error should scale like 16× the bf16 cache's. Measured on these random-
    /// weight fixtures (docs/PERF.md): 10–140× the bf16 deviation, ≤ 0.35 of the logit range (their
    /// logits are nearly flat, so a few top-1 flips happen: ≥ 55/67 positions agree). The bounds
    /// (≤ 200× bf16, ≤ 0.4 of the range, ≥ 80 % top-1) leave that margin and still catch a wrong
    /// scale or a mis-decoded code, which move logits by the whole range.
    @Test(arguments: ["llama", "qwen3", "mixtral", "deepseek-v2", "deepseek-v3"])
    func fp8KVLogitsStayCloseToTheFullPrecisionCache(fixture: String) throws {
        let forms: [MLAForm] = fixture.hasPrefix("deepseek") ? [.absorbed, .expanded] : [.automatic]
        for form in forms {
            let d = try Self.deviations(fixture, form: form)
            print("kv-cache \(fixture) \(form.rawValue): bf16 \(d.bf16); fp8 scale 1 \(d.fp8); fp8 calibrated \(d.fp8Calibrated)")
            #expect(d.bf16.relative <= 1e-2 && d.bf16.agree == d.bf16.positions, "\(fixture) bf16: \(d.bf16)")
            for (name, e) in [("scale 1", d.fp8), ("calibrated", d.fp8Calibrated)] {
                #expect(e.relative <= 0.4 && e.relative <= 200 * d.bf16.relative, "\(fixture) \(form.rawValue) fp8 \(name): \(e)")
                #expect(Double(e.agree) >= 0.8 * Double(e.positions), "\(fixture) \(form.rawValue) fp8 \(name): \(e)")
            }
        }
    }

    @Test func fp8KVCacheOfTheDeepSeekFixtureKeepsTheGreedyContinuation() throws {
        let runner = ReferenceRunner(model: try Self.load("deepseek-v3", .fp8E4M3, form: .absorbed), pageSize: 4)
        let prompt = try Fixtures.reference("deepseek-v3").last!
        let tokens = try runner.greedy(prompt.inputIDs, newTokens: prompt.greedy.count)
        // Measured: all 16 tokens equal transformers' greedy continuation (fp32, unquantized cache).
        #expect(tokens == prompt.greedy)
    }
}
