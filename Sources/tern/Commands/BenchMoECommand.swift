import ArgumentParser
import Foundation
import TernCUDA

/// `tern bench-moe`: one MoE layer on the GPU with random weights (bf16, FP8 block-scaled, NVFP4)
/// and random routing, per token count: time, FLOP/s against a cuBLASLt bf16 GEMM of the same
/// FLOPs, and time against the bytes roofline (touched experts' weight bytes / copy bandwidth).
struct BenchMoECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-moe",
                                                    abstract: "Measure the CUDA MoE layer (grouped GEMM, decode GEMV).")

    @Option(help: "Weight formats, comma separated: bf16, fp8, nvfp4.")
    var formats: String = "bf16,fp8,nvfp4"

    @Option(help: "Token counts, comma separated.")
    var tokens: String = "1,8,64,256,4096"

    @Option(help: "Routed experts.") var experts: Int = 256
    @Option(help: "Experts per token.") var topK: Int = 8
    @Option(help: "Hidden size.") var hidden: Int = 7168
    @Option(help: "Expert intermediate size.") var inner: Int = 2048

    @Option(help: "Compare with a same-FLOPs cuBLASLt GEMM from this many tokens on.")
    var denseFrom: Int = 1024

    @Option(help: "Timed repeats per point (median).")
    var repeats: Int = 10

    func run() throws {
        let cuda = try CUDABackend()
        let bandwidth = try cuda.copyBandwidth(bytes: 1 << 30)
        print(String(format: "copy bandwidth (read + write): %.0f GB/s; experts %d top-%d, hidden %d, inner %d", bandwidth / 1e9, experts, topK, hidden, inner))
        print("format  tokens   time_ms  TFLOP/s  dense_ms  vs_dense  touched  weight_MB  roofline_ms  of_roofline")
        var records: [[String: Any]] = []
        let counts = tokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        for format in formats.split(separator: ",").map(String.init) {
            let rows = try cuda.benchMoE(format: format, experts: experts, topK: topK, hidden: hidden, inner: inner, tokenCounts: counts,
                                         copyBandwidth: bandwidth, compareDense: true, denseFrom: denseFrom, repeats: repeats)
            for r in rows {
                let dense = r.denseMilliseconds.map { String(format: "%8.3f  %8.2f", $0, $0 / r.milliseconds) } ?? "       -         -"
                print(String(format: "%-6@ %7d  %8.3f  %7.1f  ", r.format, r.tokens, r.milliseconds, r.flopRate / 1e12) + dense
                      + String(format: "  %7d  %9.1f  %11.3f  %11.2f", r.touchedExperts, Double(r.touchedBytes) / 1e6, r.rooflineMilliseconds,
                               r.rooflineMilliseconds / r.milliseconds))
                records.append(["format": r.format, "tokens": r.tokens, "ms": r.milliseconds, "tflops": r.flopRate / 1e12,
                                "dense_ms": r.denseMilliseconds ?? -1, "touched_experts": r.touchedExperts, "touched_bytes": r.touchedBytes,
                                "roofline_ms": r.rooflineMilliseconds])
            }
        }
        let json = try JSONSerialization.data(withJSONObject: ["copy_bandwidth_gbs": bandwidth / 1e9, "results": records], options: [.sortedKeys])
        print("JSON " + String(decoding: json, as: UTF8.self))
    }
}
