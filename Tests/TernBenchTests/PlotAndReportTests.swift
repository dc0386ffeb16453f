import Foundation
import Testing
@testable import TernBench
#if canImport(FoundationXML)
import FoundationXML
#endif

struct PlotAndReportTests {
    @Test func frontierKeepsOnlyUndominatedPointsByAscendingX() {
        let points = [
            PlotPoint(x: 10, y: 100),  // 0: frontier (best throughput)
            PlotPoint(x: 20, y: 80),   // 1: frontier
            PlotPoint(x: 15, y: 70),   // 2: dominated by 1
            PlotPoint(x: 40, y: 30),   // 3: frontier (most interactive)
            PlotPoint(x: 30, y: 30),   // 4: dominated by 3 (same y, less x)
            PlotPoint(x: 20, y: 80),   // 5: duplicate of 1
        ]
        #expect(ParetoFrontier.indices(of: points) == [0, 1, 3])
        #expect(ParetoFrontier.indices(of: []) == [])
    }

    @Test func axisTicksAreRoundSteps() {
        let a = Axis.nice(max: 87)
        #expect(a.max == 100 && a.ticks == [0, 20, 40, 60, 80, 100])  // 87/6 = 14.5 rounds up to a step of 20
        #expect(Axis.nice(max: 0.37).ticks.last! >= 0.37)
    }

    @Test func svgIsWellFormedWithOneLegendEntryPerSeries() throws {
        let plot = ParetoPlot(title: "1k1k <tiny> & co", series: [
            PlotSeries(label: "tern", points: [PlotPoint(x: 50, y: 10, note: "c1"), PlotPoint(x: 20, y: 60, note: "c8")]),
            PlotSeries(label: "other", points: [PlotPoint(x: 40, y: 5, note: "c1")]),
        ])
        let svg = plot.svg()
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse())
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 2)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 3 + 2)  // points + legend markers
        #expect(svg.contains("&lt;tiny&gt; &amp; co"))
        #expect(svg.contains(">other</text>"))
    }

    static func result(concurrency: Int, label: String?) -> BenchResult {
        let r = RequestRecord(promptTokens: 10, requestedOutputTokens: 3, chunkTimes: [0.1, 0.2, 0.3], chunkTokens: [1, 1, 1],
                              latency: 0.3, reportedPromptTokens: 10, reportedCompletionTokens: 3)
        let config = BenchConfig(baseURL: "http://h", backend: .openai, dataset: .random(inputLength: 10, outputLength: 3, rangeRatio: 0.8,
                                 sendIDs: true), numPrompts: 1, maxConcurrency: concurrency, label: label)
        return BenchResult(config: config, model: "m\"x", preset: "1k1k",
                           metrics: BenchMetrics(records: [r], duration: 1, ignoreEOS: true), records: [r])
    }

    @Test func recordUsesBenchServingFieldNamesAndReadsBack() throws {
        let line = RunRecord.json(Self.result(concurrency: 4, label: nil)).line
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        for key in ["backend", "dataset_name", "request_rate", "max_concurrency", "random_input_len", "random_output_len",
                    "random_range_ratio", "duration", "completed", "total_input_tokens", "total_output_tokens",
                    "request_throughput", "input_throughput", "output_throughput", "total_throughput", "mean_e2e_latency_ms",
                    "median_e2e_latency_ms", "p99_e2e_latency_ms", "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms",
                    "median_tpot_ms", "p99_tpot_ms", "mean_itl_ms", "median_itl_ms", "p95_itl_ms", "p99_itl_ms", "concurrency",
                    "output_throughput_per_gpu", "median_interactivity", "failed", "prompt_token_mismatches"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["request_rate"] as? String == "inf")
        #expect(object["model"] as? String == "m\"x")
        #expect(object["max_concurrency"] as? Int == 4)
        #expect(object["output_throughput"] as? Double == 3)
        #expect(line.hasPrefix("{\"label\": null, \"backend\": \"openai\""))
    }

    @Test func plotSeriesComeFromFilesAndLabels() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternbench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("serverA.jsonl").path, b = dir.appendingPathComponent("mixed.jsonl").path
        for c in [1, 2] { try RunRecord.append(Self.result(concurrency: c, label: nil), to: a) }
        try RunRecord.append(Self.result(concurrency: 1, label: "x"), to: b)
        try RunRecord.append(Self.result(concurrency: 1, label: "y"), to: b)
        let series = try PlotSeriesLoader.series(files: [a, b], xField: "median_interactivity", yField: "output_throughput_per_gpu")
        #expect(series.map(\.label) == ["serverA", "x", "y"])
        #expect(series[0].points.map(\.note) == ["c1", "c2"])
        #expect(series[0].points[0].y == 3)
        #expect(abs(series[0].points[0].x - 10) < 1e-9)  // TPOT 100 ms
    }

    @Test func tablesShowTheFigures() {
        let r = Self.result(concurrency: 4, label: "run")
        let table = ResultTable.render(r)
        #expect(table.contains("Successful requests:") && table.contains("Median TTFT (ms):"))
        #expect(table.contains("Output token throughput (tok/s):          3.00"))
        let sweep = SweepTable.render([r])
        #expect(sweep.split(separator: "\n").count == 3)
    }
}
