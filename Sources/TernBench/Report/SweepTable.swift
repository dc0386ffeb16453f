import Foundation

/// One row per sweep point: the numbers a Pareto plot is read from.
public enum SweepTable {
    static let header = ["conc", "req/s", "out tok/s", "out/GPU", "tok/s/user", "TTFT p50", "TTFT p99", "TPOT p50", "ITL p99",
                         "E2E p50", "failed", "mismatch"]

    public static func render(_ results: [BenchResult]) -> String {
        var rows = [header]
        for r in results {
            let m = r.metrics
            rows.append([
                r.config.maxConcurrency.map(String.init) ?? "-",
                f(m.requestThroughput), f(m.outputThroughput), f(m.outputThroughputPerGPU), f(m.interactivity.median),
                f(m.ttft.median), f(m.ttft.p99), f(m.tpot.median), f(m.itl.p99), f(m.e2eLatency.median),
                String(m.failed), "\(m.promptTokenMismatches)/\(m.outputTokenMismatches)",
            ])
        }
        let widths = header.indices.map { col in rows.map { $0[col].count }.max() ?? 0 }
        let body = rows.map { row in
            zip(row, widths).map { String(repeating: " ", count: $1 - $0.count) + $0 }.joined(separator: "  ")
        }
        return (["(latencies in ms; tok/s/user = median 1000/TPOT)"] + body).joined(separator: "\n")
    }

    private static func f(_ v: Double) -> String { String(format: "%.2f", v) }
}
