import ArgumentParser
import Foundation
import TernCore
import TernCUDA

/// `tern bench-attention`: the attention op alone on the GPU. Decode (one new token per sequence)
/// over a paged bf16 or FP8 cache: time and KV bytes read per second as a fraction of the copy
/// bandwidth measured in the same run. Prefill (causal, new tokens = context): TFLOP/s.
struct BenchAttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-attention",
                                                    abstract: "Measure CUDA attention alone (decode over bf16/FP8 KV, causal prefill).")

    @Option(help: "Shapes, comma separated: gqa-llama8b (32/8 heads, d128), mla-dsv3 (128 heads, latent 512 + rope 64).")
    var shapes: String = "gqa-llama8b,mla-dsv3"

    @Option(help: "KV cache dtypes, comma separated: bf16, fp8_e4m3.")
    var kvCacheDtypes: String = "bf16,fp8_e4m3"

    @Option(help: "Decode batch sizes, comma separated.")
    var batchSizes: String = "1,16,64,256"

    @Option(help: "Decode context lengths, comma separated.")
    var contexts: String = "1024,4096,32768"

    @Option(help: "Causal prefill shapes BATCHxLENGTH, comma separated ('' skips).")
    var prefill: String = "8x4096,1x32768"

    @Option(help: "Attention shapes timed for prefill (mla-dsv3 runs the absorbed form: 576-wide scores, 512-wide values).")
    var prefillShapes: String = "gqa-llama8b,mla-dsv3"

    @Option(help: "Skip points whose KV cache exceeds this many GB.")
    var maxKvGb: Double = 40

    @Option(help: "Page size of the cache.") var pageSize: Int = 64
    @Option(help: "Timed repeats per point (median).") var repeats: Int = 10

    func run() throws {
        let cuda = try CUDABackend()
        let bandwidth = try cuda.copyBandwidth(bytes: 1 << 30)
        print(String(format: "copy bandwidth (read + write): %.0f GB/s", bandwidth / 1e9))
        let ints = { (s: String) in s.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
        let known = [AttentionBenchShape.llama8B, .deepSeekV3]
        let chosen = shapes.split(separator: ",").compactMap { n in known.first { $0.name == n.trimmingCharacters(in: .whitespaces) } }
        var dtypes: [DType] = []
        for name in kvCacheDtypes.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch name {
            case "bf16": dtypes.append(.bf16)
            case "fp8_e4m3", "fp8": dtypes.append(.f8e4m3)
            default: throw ValidationError("unknown KV dtype '\(name)' (bf16, fp8_e4m3)")
            }
        }
        var records: [[String: Any]] = []
        print("decode       shape  kv     batch  context   time_ms   KV_MB   GB/s  of_copy_bw  TFLOP/s")
        for s in chosen {
            for dtype in dtypes {
                for batch in ints(batchSizes) {
                    for context in ints(contexts) {
                        let kvBytes = batch * context * s.kvBytesPerToken(dtype)
                        guard Double(kvBytes) <= maxKvGb * 1e9 else { continue }
                        let ms = try cuda.benchAttention(s, dtype: dtype, batch: batch, context: context, pageSize: pageSize, repeats: repeats)
                        let rate = Double(kvBytes) / (ms / 1e3)
                        let kv = dtype == .bf16 ? "bf16" : "fp8"
                        // Scores (width headDim) and P·V (width valueDim) of every head over the context, 2 FLOPs per
                        // multiply-add: MLA decode (128 heads on one 576-wide latent) is compute-bound, GQA is not.
                        let tflops = 2 * Double(batch * s.heads * (s.headDim + s.valueDim)) * Double(context) / (ms / 1e3) / 1e12
                        print(String(format: "decode %12@  %-5@ %6d  %7d  %8.4f  %6.0f  %5.0f  %10.2f  %7.1f", s.name, kv, batch, context, ms,
                                     Double(kvBytes) / 1e6, rate / 1e9, rate / bandwidth, tflops))
                        records.append(["kind": "decode", "shape": s.name, "kv": kv, "batch": batch, "context": context, "ms": ms,
                                        "kv_bytes": kvBytes, "of_copy_bw": rate / bandwidth, "tflops": tflops])
                    }
                }
            }
        }
        if !prefill.isEmpty {
            print("prefill      shape  kv     batch   length   time_ms  TFLOP/s")
            let prefillChosen = prefillShapes.split(separator: ",").compactMap { n in known.first { $0.name == n.trimmingCharacters(in: .whitespaces) } }
            for s in prefillChosen {
                for item in prefill.split(separator: ",") {
                    let parts = item.split(separator: "x").compactMap { Int($0) }
                    guard parts.count == 2 else { throw ValidationError("prefill shape '\(item)': BATCHxLENGTH") }
                    let (batch, length) = (parts[0], parts[1])
                    for dtype in dtypes {
                        let ms = try cuda.benchAttention(s, dtype: dtype, batch: batch, context: length, queryLength: length,
                                                         pageSize: pageSize, repeats: max(3, repeats / 2))
                        // Causal: scores (width headDim) and P·V (width valueDim) over L(L+1)/2 pairs, 2 FLOPs per multiply-add.
                        let flops = 2 * Double(batch * s.heads * (s.headDim + s.valueDim)) * Double(length) * Double(length + 1) / 2
                        let kv = dtype == .bf16 ? "bf16" : "fp8"
                        print(String(format: "prefill %11@  %-5@ %6d  %7d  %8.3f  %7.1f", s.name, kv, batch, length, ms, flops / (ms / 1e3) / 1e12))
                        records.append(["kind": "prefill", "shape": s.name, "kv": kv, "batch": batch, "length": length, "ms": ms,
                                        "tflops": flops / (ms / 1e3) / 1e12])
                    }
                }
            }
        }
        let json = try JSONSerialization.data(withJSONObject: ["copy_bandwidth_gbs": bandwidth / 1e9, "results": records], options: [.sortedKeys])
        print("JSON " + String(decoding: json, as: UTF8.self))
    }
}
