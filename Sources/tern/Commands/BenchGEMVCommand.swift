import ArgumentParser
import Foundation
import TernCUDA

/// `tern bench-gemv`: the decode GEMV alone on Llama-3.1-8B's linear shapes, against cuBLASLt and
/// against the device-to-device copy bandwidth measured in the same run.
struct BenchGEMVCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bench-gemv",
                                                    abstract: "Time the decode GEMV against cuBLASLt and copy bandwidth (CUDA).")

    @Option(help: "Token counts (rows of x), comma separated.")
    var tokens: String = "1,4,8,16"

    @Option(help: "Shapes as NxK, comma separated (default: Llama-3.1-8B's qkv, o, gate-up, down, lm_head).")
    var shapes: String = "6144x4096,4096x4096,28672x4096,4096x14336,128256x4096"

    @Option(help: "Calls timed back to back per measurement.")
    var calls: Int = 40

    func run() throws {
        let gpu: CUDABackend
        do { gpu = try CUDABackend() } catch { throw ValidationError("CUDA backend unavailable: \(error)") }
        let copy = try gpu.copyBandwidth(bytes: 1 << 30)
        print("device: \(gpu.deviceInfo.name), \(gpu.deviceInfo.multiprocessors) SMs")
        print(String(format: "copy bandwidth (read + write): %.0f GB/s", copy / 1e9))
        print("     n       k   T  out   MB/call  gemv_us  gemv_frac  cublas_us  cublas_frac  gemv/cublas  rel_diff  t1s_us  t1s_frac  t1_warp_us  t1_warp_frac")
        let parsed: [(Int, Int)] = shapes.split(separator: ",").compactMap { s in
            let p = s.split(separator: "x").compactMap { Int($0) }
            return p.count == 2 ? (p[0], p[1]) : nil
        }
        var rows: [[String: Any]] = []
        for (n, k) in parsed {
            // The LM head writes f32 logits; every other projection bf16.
            let f32 = n > 100_000
            for t in tokens.split(separator: ",").compactMap({ Int($0) }) {
                let r = try gpu.benchmarkGEMV(n: n, k: k, tokens: t, outputF32: f32, calls: calls)
                func frac(_ ms: Double?) -> Double? { ms.map { Double(r.bytes) / ($0 / 1e3) / copy } }
                func f(_ v: Double?, _ format: String) -> String { v.map { String(format: format, $0) } ?? "-" }
                print(String(format: "%6d  %6d  %2d  %@  %8.1f", n, k, t, f32 ? "f32 " : "bf16", Double(r.bytes) / 1e6)
                      + "  " + f(r.gemvMs.map { $0 * 1e3 }, "%7.1f") + "  " + f(frac(r.gemvMs), "%9.3f")
                      + "  " + f(r.blasMs.map { $0 * 1e3 }, "%9.1f") + "  " + f(frac(r.blasMs), "%11.3f")
                      + "  " + f(r.gemvMs.flatMap { g in r.blasMs.map { g / $0 } }, "%11.2f") + "  " + f(r.relativeDifference, "%8.1e")
                      + "  " + f(r.flatMs.map { $0 * 1e3 }, "%6.1f") + "  " + f(frac(r.flatMs), "%8.3f")
                      + "  " + f(r.warpPerRowMs.map { $0 * 1e3 }, "%10.1f") + "  " + f(frac(r.warpPerRowMs), "%12.3f"))
                rows.append(["n": n, "k": k, "tokens": t, "bytes": r.bytes, "gemv_ms": r.gemvMs ?? -1, "cublas_ms": r.blasMs ?? -1,
                             "gemv_fraction": frac(r.gemvMs) ?? -1, "cublas_fraction": frac(r.blasMs) ?? -1,
                             "relative_difference": r.relativeDifference ?? -1, "t1s_ms": r.flatMs ?? -1, "t1_warp_ms": r.warpPerRowMs ?? -1])
            }
        }
        let json = try JSONSerialization.data(withJSONObject: ["copy_bandwidth_gbs": copy / 1e9, "results": rows], options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
