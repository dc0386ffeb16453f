import Foundation

/// The human-readable summary of one run, laid out like bench_serving's.
public enum ResultTable {
    public static func render(_ result: BenchResult) -> String {
        let c = result.config
        let m = result.metrics
        var lines: [String] = []
        func row(_ name: String, _ value: String) { lines.append(name.padding(toLength: 42, withPad: " ", startingAt: 0) + value) }
        func num(_ name: String, _ value: Double) { row(name, String(format: "%.2f", value)) }
        func section(_ title: String) {
            let pad = max(50 - title.count - 2, 0)
            let left = String(repeating: "-", count: pad / 2)
            lines.append(left + " " + title + " " + String(repeating: "-", count: pad - pad / 2))
        }
        func stats(_ name: String, _ d: Distribution, unit: String = "ms") {
            num("Mean \(name) (\(unit)):", d.mean)
            num("Median \(name) (\(unit)):", d.median)
            num("P90 \(name) (\(unit)):", d.p90)
            num("P99 \(name) (\(unit)):", d.p99)
            num("Max \(name) (\(unit)):", d.max)
        }
        lines.append(String(repeating: "=", count: 12) + " Serving Benchmark Result " + String(repeating: "=", count: 12))
        row("Backend:", c.backend.rawValue)
        if let label = c.label { row("Label:", label) }
        row("Traffic request rate:", c.requestRate.isFinite ? String(format: "%.2f", c.requestRate) : "inf")
        row("Max request concurrency:", c.maxConcurrency.map(String.init) ?? "not set")
        row("Successful requests:", String(m.completed))
        row("Failed requests:", String(m.failed))
        num("Benchmark duration (s):", m.duration)
        row("Total input tokens:", String(m.totalInputTokens))
        row("Total generated tokens:", String(m.totalOutputTokens))
        num("Request throughput (req/s):", m.requestThroughput)
        num("Input token throughput (tok/s):", m.inputThroughput)
        num("Output token throughput (tok/s):", m.outputThroughput)
        num("Total token throughput (tok/s):", m.totalThroughput)
        row("GPUs:", String(m.numGPUs))
        num("Output token throughput per GPU (tok/s):", m.outputThroughputPerGPU)
        num("Total token throughput per GPU (tok/s):", m.totalThroughputPerGPU)
        num("Concurrency:", m.concurrency)
        row("Token count mismatches (prompt/output):", "\(m.promptTokenMismatches) / \(m.outputTokenMismatches)")
        section("End-to-End Latency")
        stats("E2E Latency", m.e2eLatency)
        section("Time to First Token")
        stats("TTFT", m.ttft)
        section("Time per Output Token (excl. 1st token)")
        stats("TPOT", m.tpot)
        section("Inter-Token Latency")
        stats("ITL", m.itl)
        section("Interactivity")
        num("Mean interactivity (tok/s/user):", m.interactivity.mean)
        num("Median interactivity (tok/s/user):", m.interactivity.median)
        lines.append(String(repeating: "=", count: 50))
        for error in result.errorSamples { lines.append("error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
