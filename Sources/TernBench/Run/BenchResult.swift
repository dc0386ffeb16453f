import Foundation

/// One finished run: its settings and its figures.
public struct BenchResult: Sendable {
    public var config: BenchConfig
    public var model: String?
    public var preset: String?
    public var metrics: BenchMetrics
    public var records: [RequestRecord]
    public var date: Date

    public init(config: BenchConfig, model: String?, preset: String? = nil, metrics: BenchMetrics, records: [RequestRecord],
                date: Date = Date()) {
        self.config = config
        self.model = model
        self.preset = preset
        self.metrics = metrics
        self.records = records
        self.date = date
    }

    /// First few distinct failure messages, for the report.
    public var errorSamples: [String] {
        var seen: [String] = []
        for r in records {
            if let e = r.error, !seen.contains(e) { seen.append(e) }
            if seen.count == 3 { break }
        }
        return seen
    }
}
