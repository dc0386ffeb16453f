import ArgumentParser
import Dispatch
import Foundation
import TernBackend
import TernCore
import TernCUDA
import TernModels

/// `tern bench-decode`: decode tokens/s at fixed batch sizes, and the weight bytes read per
/// second as a fraction of the memory-copy bandwidth measured in the same run.
struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-decode",
                                                    abstract: "Measure decode speed against memory bandwidth.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Batch sizes, comma separated.")
    var batchSizes: String = "1,16"

    @Option(help: "Tokens already in each sequence's KV cache when decoding starts.")
    var context: Int = 128

    @Option(help: "Timed decode steps per batch size.")
    var steps: Int = 32

    @Option(help: "Bytes per buffer for the copy-bandwidth measurement.")
    var copyBytes: Int = 512 << 20

    @Flag(help: "CUDA only: also time each batch size with decode steps replayed from CUDA graphs.")
    var cudaGraph = false

    @Option(help: "Prefill benchmark: sequences per step (0 skips it).")
    var prefillBatch: Int = 0

    @Option(help: "Prefill benchmark: tokens per sequence.")
    var prefillLength: Int = 1024

    func run() throws {
        let model = try modelOptions.loadModel()
        let weightBytes = try parameterBytes(model)
        let cuda = model.backend as? CUDABackend
        let copyBandwidth = try cuda.map { try $0.copyBandwidth(bytes: max(copyBytes, 1 << 30)) } ?? measureCopyBandwidth(bytes: copyBytes)
        if let cuda { print("device: \(cuda.deviceInfo.name), \(cuda.deviceInfo.multiprocessors) SMs") }
        print(String(format: "model %@  weights %.1f MB  KV %d B/token  threads %d",
                     model.config.architecture.rawValue, Double(weightBytes) / 1e6, model.kvLayout.bytesPerToken,
                     ProcessInfo.processInfo.activeProcessorCount))
        print(String(format: "memory copy bandwidth (read + write): %.2f GB/s", copyBandwidth / 1e9))
        print("batch  step_ms  tokens/s  bytes/step_MB  achieved_GB/s  fraction_of_copy")
        var rows: [[String: Any]] = []
        for batchSize in batchSizes.split(separator: ",").compactMap({ Int($0) }) {
            for graph in (cudaGraph && cuda != nil ? [false, true] : [false]) {
                let r = try measure(model: model, batchSize: batchSize, graph: graph)
                if let report = cuda?.profileReport(steps: steps) { print("batch \(batchSize) decode " + report) }
                let bytesPerStep = Double(weightBytes) + Double(batchSize * (context + steps / 2) * model.kvLayout.bytesPerToken)
                let achieved = bytesPerStep / r
                print(String(format: "%5d  %7.2f  %8.1f  %13.1f  %13.2f  %16.3f", batchSize, r * 1e3, Double(batchSize) / r,
                             bytesPerStep / 1e6, achieved / 1e9, achieved / copyBandwidth) + (graph ? "  (cuda graph)" : ""))
                rows.append(["batch": batchSize, "step_ms": r * 1e3, "tokens_per_s": Double(batchSize) / r, "cuda_graph": graph,
                             "bytes_per_step": bytesPerStep, "fraction_of_copy": achieved / copyBandwidth])
            }
        }
        var summary: [String: Any] = ["copy_bandwidth_gbs": copyBandwidth / 1e9, "results": rows]
        if prefillBatch > 0 {
            let seconds = try measurePrefill(model: model)
            let c = model.config
            let tokens = Double(prefillBatch * prefillLength)
            let matmulFlops = 2 * Double(weightBytes / c.dtype.byteSize) * tokens
            let attentionFlops = 4 * Double(c.layers * c.heads * c.headDim) * Double(prefillBatch) * Double(prefillLength * (prefillLength + 1) / 2)
            let rate = (matmulFlops + attentionFlops) / seconds
            let gemm = try cuda.map { try $0.gemmRate() }
            print(String(format: "prefill %d x %d: %.1f ms, %.0f tokens/s, %.1f TFLOP/s", prefillBatch, prefillLength, seconds * 1e3,
                         tokens / seconds, rate / 1e12) + (gemm.map { String(format: "  (bf16 GEMM 8192^3: %.1f TFLOP/s, fraction %.3f)", $0 / 1e12, rate / $0) } ?? ""))
            summary["prefill"] = ["batch": prefillBatch, "length": prefillLength, "ms": seconds * 1e3, "tflops": rate / 1e12,
                                  "gemm_tflops": (gemm ?? 0) / 1e12]
        }
        let json = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }

    /// Seconds per decode step at `batchSize` sequences of `context` cached tokens.
    func measure(model: any LanguageModel, batchSize: Int, graph: Bool = false) throws -> Double {
        let pageSize = 16
        let perSequence = (context + steps + 1 + pageSize - 1) / pageSize
        // One page more: the scratch page that a decode graph's padding sequences write to.
        let cache = try model.makeKVCache(pageSize: pageSize, pageCount: perSequence * batchSize + 1)
        let graphs = graph ? (model.backend as? CUDABackend).map {
            CUDADecodeGraphs(backend: $0, pageSize: pageSize, maxPagesPerSequence: perSequence, scratchPage: perSequence * batchSize,
                             buckets: [batchSize])
        } : nil
        var random = SplitMix64(seed: 7)
        let prompts = (0..<batchSize).map { _ in
            (0..<context).map { _ in Int32(random.next() % UInt64(model.config.vocabSize)) }
        }
        var prefill = ForwardBatch.contiguousPrefill(prompts, pageSize: pageSize)
        // Give every sequence room to grow: pages are laid out perSequence apart.
        prefill = relayout(prefill, perSequence: perSequence, pageSize: pageSize)
        _ = try model.forward(prefill, cache: cache)
        var lengths = Array(repeating: context, count: batchSize)
        var elapsed = 0.0
        for step in 0..<(steps + 2) {
            if step == 2, let cuda = model.backend as? CUDABackend { try cuda.synchronize(); cuda.resetProfile() }
            var batch = ForwardBatch(tokenIDs: [], positions: [], slots: [], sequences: [], pageTable: [], pageSize: pageSize, logitRows: [])
            for s in 0..<batchSize {
                let position = lengths[s]
                let firstPage = s * perSequence
                batch.tokenIDs.append(Int32(random.next() % UInt64(model.config.vocabSize)))
                batch.positions.append(Int32(position))
                batch.slots.append(Int32(firstPage * pageSize + position))
                batch.sequences.append(SequenceSpan(queryStart: s, queryLength: 1, kvLength: position + 1, pageTableStart: batch.pageTable.count))
                batch.pageTable.append(contentsOf: (0..<perSequence).map { Int32(firstPage + $0) })
                batch.logitRows.append(Int32(s))
                lengths[s] += 1
            }
            let start = DispatchTime.now().uptimeNanoseconds
            let logits = try graphs.map { g in try g.forward(batch) { b in try model.forward(b, cache: cache) } } ?? model.forward(batch, cache: cache)
            _ = try model.backend.argmax(logits)
            // The first two steps warm caches and thread pools.
            if step >= 2 { elapsed += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        }
        return elapsed / Double(steps)
    }

    /// Seconds for one prefill step of `prefillBatch` sequences of `prefillLength` tokens (after a warm-up).
    func measurePrefill(model: any LanguageModel) throws -> Double {
        let pageSize = 16
        let pages = (prefillLength + pageSize - 1) / pageSize * prefillBatch
        let cache = try model.makeKVCache(pageSize: pageSize, pageCount: pages)
        var random = SplitMix64(seed: 11)
        let prompts = (0..<prefillBatch).map { _ in (0..<prefillLength).map { _ in Int32(random.next() % UInt64(model.config.vocabSize)) } }
        let batch = ForwardBatch.contiguousPrefill(prompts, pageSize: pageSize)
        var best = Double.infinity
        for i in 0..<3 {
            if i == 2, let cuda = model.backend as? CUDABackend { try cuda.synchronize(); cuda.resetProfile() }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try model.backend.argmax(try model.forward(batch, cache: cache))
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        if let report = (model.backend as? CUDABackend)?.profileReport(steps: 1) { print("prefill " + report) }
        return best
    }

    private func relayout(_ batch: ForwardBatch, perSequence: Int, pageSize: Int) -> ForwardBatch {
        var out = batch
        out.pageTable = []
        out.slots = []
        for (s, seq) in batch.sequences.enumerated() {
            out.sequences[s].pageTableStart = out.pageTable.count
            out.pageTable.append(contentsOf: (0..<perSequence).map { Int32(s * perSequence + $0) })
            for i in 0..<seq.queryLength { out.slots.append(Int32(s * perSequence * pageSize + i)) }
        }
        return out
    }

    private func parameterBytes(_ model: any LanguageModel) throws -> Int {
        // Every weight is read once per decode step; the config gives their sizes.
        let c = model.config
        let qDim = c.heads * c.headDim, kvDim = c.kvHeads * c.headDim
        let perLayer = c.hiddenSize * (qDim + 2 * kvDim) + qDim * c.hiddenSize + 3 * c.hiddenSize * c.intermediateSize
        let head = c.vocabSize * c.hiddenSize  // the LM head; embedding rows read are negligible
        return (c.layers * perLayer + head) * c.dtype.byteSize
    }

    /// Bytes read + written per second by a multithreaded memcpy of `bytes`-sized buffers.
    private func measureCopyBandwidth(bytes: Int) -> Double {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let source = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let target = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { source.deallocate(); target.deallocate() }
        memset(source, 1, bytes)
        memset(target, 0, bytes)
        let chunk = bytes / threads
        let pointers = Pointers(source: source, target: target)
        var best = Double.infinity
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            DispatchQueue.concurrentPerform(iterations: threads) { i in
                memcpy(pointers.target + i * chunk, pointers.source + i * chunk, chunk)
            }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return Double(2 * chunk * threads) / best
    }
}

private struct Pointers: @unchecked Sendable {
    let source: UnsafeMutableRawPointer
    let target: UnsafeMutableRawPointer
}
