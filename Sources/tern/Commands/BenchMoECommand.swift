import ArgumentParser
import Foundation
import TernBackend
import TernCUDA

/// `tern bench-moe`: one MoE layer on the GPU with random weights (bf16, FP8 block-scaled, NVFP4)
/// and random routing, per token count: time, FLOP/s against a cuBLASLt bf16 GEMM of the same
/// FLOPs, and time against the bytes roofline (touched experts' weight bytes / copy bandwidth).
/// Under TERN_CUDA_PROFILE=1 it also prints, per format and token count, the per-kernel table and
/// the layer split into stages (routing, permutation, quantization, gate/up GEMM, SiLU, down GEMM,
/// combine) with the grouped GEMM kernels' own TFLOP/s; profiled launches each wait for the GPU,
/// so time_ms is then longer than an unprofiled run's.
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
        if ProcessInfo.processInfo.environment["TERN_CUDA_PROFILE"] == "1" {
            print("(TERN_CUDA_PROFILE=1: every launch is timed and waited for, so time_ms is inflated; per-kernel tables follow each format)")
        }
        var records: [[String: Any]] = []
        let counts = tokens.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        for format in formats.split(separator: ",").map(String.init) {
            var profiles: [String] = []
            let rows = try cuda.benchMoE(format: format, experts: experts, topK: topK, hidden: hidden, inner: inner, tokenCounts: counts,
                                         copyBandwidth: bandwidth, compareDense: true, denseFrom: denseFrom, repeats: repeats)
            for r in rows {
                let dense = r.denseMilliseconds.map { String(format: "%8.3f  %8.2f", $0, $0 / r.milliseconds) } ?? "       -         -"
                print(String(format: "%-6@ %7d  %8.3f  %7.1f  ", r.format, r.tokens, r.milliseconds, r.flopRate / 1e12) + dense
                      + String(format: "  %7d  %9.1f  %11.3f  %11.2f", r.touchedExperts, Double(r.touchedBytes) / 1e6, r.rooflineMilliseconds,
                               r.rooflineMilliseconds / r.milliseconds))
                var record: [String: Any] = ["format": r.format, "tokens": r.tokens, "ms": r.milliseconds, "tflops": r.flopRate / 1e12,
                                             "dense_ms": r.denseMilliseconds ?? -1, "touched_experts": r.touchedExperts,
                                             "touched_bytes": r.touchedBytes, "roofline_ms": r.rooflineMilliseconds]
                if let totals = r.profileTotals {
                    let breakdown = MoEProfileBreakdown(entries: totals, calls: r.profiledCalls, rows: r.tokens * topK, hidden: hidden, inner: inner)
                    profiles.append(Self.describe(breakdown, row: r, report: r.profileReport))
                    record["stages_ms"] = Dictionary(uniqueKeysWithValues: breakdown.milliseconds.map { ($0.key.rawValue, $0.value) })
                    record["gemm_tflops"] = (breakdown.gemmRate ?? 0) / 1e12
                    record["gate_up_tflops"] = (breakdown.gateUpRate ?? 0) / 1e12
                    record["down_tflops"] = (breakdown.downRate ?? 0) / 1e12
                }
                records.append(record)
            }
            for p in profiles { print(p) }
        }
        let json = try JSONSerialization.data(withJSONObject: ["copy_bandwidth_gbs": bandwidth / 1e9, "results": records], options: [.sortedKeys])
        print("JSON " + String(decoding: json, as: UTF8.self))
    }

    /// The stage table of one profiled point, then the profiler's per-kernel rows.
    static func describe(_ b: MoEProfileBreakdown, row r: MoEBenchRow, report: String?) -> String {
        let total = b.totalMilliseconds
        var lines = [String(format: "-- profile %@ %d tokens (%d expert rows): %.3f ms of kernels per layer call (routing included), median profiled call %.3f ms",
                            r.format, r.tokens, b.rows, total, r.milliseconds)]
        lines.append("   stage           ms/call   share  TFLOP/s")
        for stage in MoEProfileBreakdown.Stage.allCases {
            let ms = b.time(stage)
            guard ms > 0 || stage == .gateUp || stage == .down else { continue }
            let rate = stage == .gateUp ? b.gateUpRate : stage == .down ? b.downRate : nil
            lines.append(String(format: "   %-14@ %8.3f  %5.1f%%  %@", stage.rawValue as NSString, ms, 100 * ms / max(total, 1e-9),
                                rate.map { String(format: "%7.1f", $0 / 1e12) } ?? "      -"))
        }
        let dense = r.denseMilliseconds.map { ms -> String in
            let denseRate = (b.gateUpFlops + b.downFlops) / (ms / 1e3)
            return String(format: "; cuBLASLt bf16 same FLOPs %.1f TFLOP/s, GEMMs at %.2f of it", denseRate / 1e12, (b.gemmRate ?? 0) / denseRate)
        } ?? ""
        lines.append(String(format: "   grouped GEMMs  %8.3f  %5.1f%%  %7.1f  (whole layer: %.1f TFLOP/s over the median profiled call%@)",
                            b.time(.gateUp) + b.time(.down), 100 * (b.time(.gateUp) + b.time(.down)) / max(total, 1e-9),
                            (b.gemmRate ?? 0) / 1e12, r.flopRate / 1e12, dense))
        if let report { lines.append(report.split(separator: "\n").map { "   " + $0 }.joined(separator: "\n")) }
        return lines.joined(separator: "\n")
    }
}
