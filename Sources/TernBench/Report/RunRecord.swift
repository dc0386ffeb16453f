import Foundation

/// The JSON-lines record of a run. Field names follow SGLang's bench_serving where it has one
/// (`completed`, `duration`, `output_throughput`, `mean_ttft_ms`, ...); the rest are Tern's
/// (`failed`, per-GPU throughput, p90/max, interactivity, token-count mismatches).
public enum RunRecord {
    public static func json(_ result: BenchResult) -> OrderedJSON {
        let c = result.config
        let m = result.metrics
        var j = OrderedJSON()
        j.set("label", c.label)
        j.set("backend", c.backend.rawValue)
        j.set("base_url", c.baseURL)
        j.set("model", result.model)
        j.set("dataset_name", c.dataset.name)
        j.set("preset", result.preset)
        j.set("request_rate", c.requestRate)
        j.set("max_concurrency", c.maxConcurrency.map(OrderedJSON.Value.int) ?? .null)
        switch c.dataset {
        case .random(let inLen, let outLen, let ratio, let sendIDs):
            j.set("random_input_len", inLen)
            j.set("random_output_len", outLen)
            j.set("random_range_ratio", ratio)
            j.set("random_send_ids", sendIDs || c.tokenizerPath == nil)  // without a tokenizer ids are all there is to send
        case .sharegpt(let path, let outLen):
            j.set("dataset_path", path)
            j.set("sharegpt_output_len", outLen.map(OrderedJSON.Value.int) ?? .null)
        case .generatedSharedPrefix(let groups, let perGroup, let systemLen, let questionLen, let outLen):
            j.set("gsp_num_groups", groups)
            j.set("gsp_prompts_per_group", perGroup)
            j.set("gsp_system_prompt_len", systemLen)
            j.set("gsp_question_len", questionLen)
            j.set("gsp_output_len", outLen)
        }
        j.set("num_prompts", result.records.count)
        j.set("warmup_requests", c.warmupRequests)
        j.set("ignore_eos", c.ignoreEOS)
        j.set("seed", Int(truncatingIfNeeded: c.seed))
        j.set("num_gpus", m.numGPUs)
        j.set("date", ISO8601DateFormatter().string(from: result.date))
        j.set("duration", m.duration)
        j.set("completed", m.completed)
        j.set("failed", m.failed)
        j.set("total_input_tokens", m.totalInputTokens)
        j.set("total_output_tokens", m.totalOutputTokens)
        j.set("request_throughput", m.requestThroughput)
        j.set("input_throughput", m.inputThroughput)
        j.set("output_throughput", m.outputThroughput)
        j.set("total_throughput", m.totalThroughput)
        j.set("input_throughput_per_gpu", m.inputThroughputPerGPU)
        j.set("output_throughput_per_gpu", m.outputThroughputPerGPU)
        j.set("total_throughput_per_gpu", m.totalThroughputPerGPU)
        for (name, d) in [("e2e_latency", m.e2eLatency), ("ttft", m.ttft), ("tpot", m.tpot), ("itl", m.itl)] {
            j.set("mean_\(name)_ms", d.mean)
            j.set("median_\(name)_ms", d.median)
            j.set("std_\(name)_ms", d.std)
            j.set("p90_\(name)_ms", d.p90)
            if name == "itl" { j.set("p95_itl_ms", d.p95) }
            j.set("p99_\(name)_ms", d.p99)
            j.set("max_\(name)_ms", d.max)
        }
        j.set("mean_interactivity", m.interactivity.mean)
        j.set("median_interactivity", m.interactivity.median)
        j.set("concurrency", m.concurrency)
        j.set("prompt_token_mismatches", m.promptTokenMismatches)
        j.set("output_token_mismatches", m.outputTokenMismatches)
        return j
    }

    /// Appends the record as one line to `path` (created if missing).
    public static func append(_ result: BenchResult, to path: String) throws {
        let line = Data((json(result).line + "\n").utf8)
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
    }

    /// Every record of a JSON-lines file, as dictionaries (blank lines skipped).
    public static func read(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try text.split(whereSeparator: \.isNewline).compactMap { line in
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw BenchError.badOption("\(path): a line is not a JSON object")
            }
            return object
        }
    }
}
