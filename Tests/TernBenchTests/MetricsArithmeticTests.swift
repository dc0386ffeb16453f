import Testing
@testable import TernBench

/// Two finished requests and one failure on a 2-second run, every figure worked out by hand.
///
/// A: prompt 10, asked 4; chunks at 0.1 s (1 token), 0.2 s (1), 0.4 s (2); ends 0.5 s.
///    TTFT 100 ms; TPOT (0.5 − 0.1)/3 = 133.33 ms; ITL 100, then the 200 ms gap split over 2 tokens: 100, 100.
/// B: prompt 20, asked 3; chunks at 0.3, 0.5, 0.6 (1 token each); ends 0.7 s.
///    TTFT 300 ms; TPOT (0.7 − 0.3)/2 = 200 ms; ITL 200, 100.
struct MetricsArithmeticTests {
    static let a = RequestRecord(promptTokens: 10, requestedOutputTokens: 4, chunkTimes: [0.1, 0.2, 0.4], chunkTokens: [1, 1, 2],
                                 latency: 0.5, reportedPromptTokens: 10, reportedCompletionTokens: 4)
    static let b = RequestRecord(promptTokens: 20, requestedOutputTokens: 3, startTime: 0.25, chunkTimes: [0.3, 0.5, 0.6],
                                 chunkTokens: [1, 1, 1], latency: 0.7, reportedPromptTokens: 20, reportedCompletionTokens: 3)
    static let failed = RequestRecord(promptTokens: 99, requestedOutputTokens: 9, succeeded: false, error: "HTTP 500",
                                      chunkTimes: [], chunkTokens: [], latency: 0.05)
    static let metrics = BenchMetrics(records: [a, b, failed], duration: 2.0, numGPUs: 2, ignoreEOS: true)

    func close(_ x: Double, _ y: Double, _ tol: Double = 1e-9) -> Bool { abs(x - y) <= tol * max(1, abs(y)) }

    @Test func countsAndTotalsLeaveOutFailedRequests() {
        let m = Self.metrics
        #expect(m.completed == 2)
        #expect(m.failed == 1)
        #expect(m.totalInputTokens == 30)
        #expect(m.totalOutputTokens == 7)
    }

    @Test func throughputsAreTokensOverDurationAndPerGPUDividesByGPUs() {
        let m = Self.metrics
        #expect(close(m.requestThroughput, 1.0))
        #expect(close(m.inputThroughput, 15.0))
        #expect(close(m.outputThroughput, 3.5))
        #expect(close(m.totalThroughput, 18.5))
        #expect(close(m.inputThroughputPerGPU, 7.5))
        #expect(close(m.outputThroughputPerGPU, 1.75))
        #expect(close(m.totalThroughputPerGPU, 9.25))
    }

    @Test func ttftIsTheFirstChunkAndPercentilesInterpolate() {
        let t = Self.metrics.ttft  // [100, 300] ms
        #expect(close(t.mean, 200))
        #expect(close(t.median, 200))
        #expect(close(t.std, 100))
        #expect(close(t.p90, 280))  // 100 + 0.9 × 200
        #expect(close(t.p99, 298))
        #expect(close(t.max, 300))
    }

    @Test func tpotExcludesTheFirstToken() {
        let t = Self.metrics.tpot  // [133.33, 200] ms
        #expect(close(t.mean, (400.0 / 3 + 200) / 2))
        #expect(close(t.max, 200))
        #expect(close(Self.a.tpot!, 0.4 / 3))
    }

    @Test func itlSplitsAMultiTokenChunkIntoEqualGaps() {
        #expect(Self.a.interTokenLatencies.map { ($0 * 1000).rounded() } == [100, 100, 100])
        let i = Self.metrics.itl  // sorted [100, 100, 100, 100, 200] ms
        #expect(i.count == 5)
        #expect(close(i.mean, 120, 1e-6))
        #expect(close(i.median, 100, 1e-6))
        #expect(close(i.p90, 160, 1e-6))  // rank 3.6
        #expect(close(i.p95, 180, 1e-6))  // rank 3.8
        #expect(close(i.p99, 196, 1e-6))  // rank 3.96
        #expect(close(i.max, 200, 1e-6))
    }

    @Test func e2eLatencyConcurrencyAndInteractivity() {
        let m = Self.metrics
        #expect(close(m.e2eLatency.mean, 600))
        #expect(close(m.e2eLatency.median, 600))
        #expect(close(m.concurrency, 0.6))  // (0.5 + 0.7) / 2
        // 1000 / 133.33 = 7.5 and 1000 / 200 = 5 tokens/s per user.
        #expect(close(m.interactivity.mean, 6.25))
        #expect(close(m.interactivity.median, 6.25))
    }

    @Test func matchingCountsGiveNoMismatches() {
        #expect(Self.metrics.promptTokenMismatches == 0)
        #expect(Self.metrics.outputTokenMismatches == 0)
    }

    @Test func serverPromptCountIsCheckedOnlyForIDPrompts() {
        var r = Self.a
        r.reportedPromptTokens = 11
        #expect(r.promptCountMismatch)
        r.promptIsExact = false  // text: the server's tokenizer may count differently
        #expect(!r.promptCountMismatch)
    }

    @Test func outputMismatchWhenShortOfTheAskedLengthUnderIgnoreEOS() {
        var r = Self.a
        r.chunkTokens = [1, 1, 1]
        r.reportedCompletionTokens = 3
        #expect(r.outputCountMismatch(ignoreEOS: true))
        #expect(!r.outputCountMismatch(ignoreEOS: false))
    }

    @Test func outputMismatchWhenServerCountDisagreesWithTheStream() {
        var r = Self.a
        r.reportedCompletionTokens = 5
        #expect(r.outputCountMismatch(ignoreEOS: false))
        #expect(BenchMetrics(records: [r, Self.b], duration: 1, ignoreEOS: false).outputTokenMismatches == 1)
    }

    @Test func singleTokenOutputsHaveNoTPOT() {
        let r = RequestRecord(promptTokens: 5, requestedOutputTokens: 1, chunkTimes: [0.2], chunkTokens: [1], latency: 0.25)
        #expect(r.tpot == nil)
        let m = BenchMetrics(records: [r], duration: 1, ignoreEOS: true)
        #expect(m.tpot.count == 0)
        #expect(m.interactivity.count == 0)
        #expect(close(m.ttft.mean, 200))
    }

    @Test func percentileMatchesNumpyLinear() {
        #expect(Distribution.percentile([1, 2, 3, 4], 50) == 2.5)
        #expect(close(Distribution.percentile([10, 20, 30, 40, 50], 99), 49.6))
        #expect(Distribution.percentile([7], 99) == 7)
        #expect(Distribution([]).count == 0)
    }
}
