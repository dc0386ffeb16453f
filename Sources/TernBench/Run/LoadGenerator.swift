/// Sends prompts with Poisson arrivals (or all at once) under an optional concurrency cap.
struct LoadGenerator: Sendable {
    let client: BenchClient
    let model: String?
    let ignoreEOS: Bool
    let requestRate: Double
    let maxConcurrency: Int?

    /// The records in prompt order, and the wall time from the first send to the last response.
    func run(_ prompts: [BenchPrompt], seed: UInt64, progress: ProgressLine?) async -> (records: [RequestRecord], duration: Double) {
        let limiter = maxConcurrency.map { ConcurrencyLimiter(limit: $0) }
        // Arrival times are fixed up front (seconds after the start), so a slow loop cannot shift them.
        var rng = SeededGenerator(seed: seed ^ 0xA5A5_5A5A_0F0F_F0F0)
        var arrivals = [Double](repeating: 0, count: prompts.count)
        if requestRate.isFinite && requestRate > 0 {
            var t = 0.0
            for i in arrivals.indices {
                arrivals[i] = t
                t += rng.exponential(rate: requestRate)
            }
        }
        let runStart = monotonicSeconds()
        var records = [RequestRecord?](repeating: nil, count: prompts.count)
        await withTaskGroup(of: (Int, RequestRecord).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let wait = arrivals[i] - (monotonicSeconds() - runStart)
                if wait > 0 { try? await Task.sleep(nanoseconds: UInt64(wait * 1e9)) }
                group.addTask { [client, model, ignoreEOS] in
                    await limiter?.acquire()
                    let record = await client.send(prompt, model: model, ignoreEOS: ignoreEOS, startTime: monotonicSeconds() - runStart)
                    await limiter?.release()
                    await progress?.add(record)
                    return (i, record)
                }
            }
            for await (i, record) in group { records[i] = record }
        }
        let duration = monotonicSeconds() - runStart
        await progress?.finish()
        return (records.map { $0! }, duration)
    }
}
