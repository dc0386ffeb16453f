import Foundation
import Testing
import TernBackend
import TernModels
@testable import TernEngine

/// Opt-in (TERN_BENCH=1): engine overhead per decode step at 256 running requests.
/// swift test -c release -Xswiftc -enable-testing --filter EngineBenchmarkTests
@Suite(.enabled(if: ProcessInfo.processInfo.environment["TERN_BENCH"] == "1"))
struct EngineBenchmarkTests {
    @Test func decodeOverheadAt256RunningRequests() throws {
        let directory = RealModelTests.fixtures.appendingPathComponent("llama")
        let model = try ModelLoader.load(directory: directory, backend: CPUBackend())
        for sampling in [SamplingParams(temperature: 0),
                         SamplingParams(temperature: 0.8, topK: 50, topP: 0.95, repetitionPenalty: 1.1, seed: 1)] {
            let real = try EngineBenchmark.decodeOverhead(model: model, concurrency: 256, sampling: sampling)
            print("llama fixture, \(describe(sampling)): \(real)")
        }
        for vocab in [512, 151_936] {
            for sampling in [SamplingParams(temperature: 0),
                             SamplingParams(temperature: 0.8, topK: 50, topP: 0.95, repetitionPenalty: 1.1, seed: 1),
                             SamplingParams(temperature: 0.8, topP: 0.95, seed: 1)] {
                print("sampler alone, vocab \(vocab), \(describe(sampling)): \(samplerMicroseconds(vocab: vocab, sampling)) µs/row")
            }
        }
        let fake = try EngineBenchmark.decodeOverhead(model: HistoryModel(vocab: 512), concurrency: 256)
        print("history fake model (vocab 512), greedy: \(fake)")
        #expect(fake.steps == 64)
    }
}

func describe(_ p: SamplingParams) -> String {
    p.temperature == 0 ? "greedy" : "T=\(p.temperature) top-k \(p.topK) top-p \(p.topP) rep \(p.repetitionPenalty)"
}

/// Best-of-5 mean time of one `Sampler.sample` call on random logits with a 100-token history.
func samplerMicroseconds(vocab: Int, _ params: SamplingParams) -> Int {
    var random = WorkloadRandom(state: 1)
    let rows = 64
    let logits = (0..<rows * vocab).map { _ in Float(random.next() % 10_000) / 1000 }
    let sampler = Sampler(vocabSize: vocab)
    var state = SamplingState(params: params, prompt: (0..<100).map { Int32($0) }, eosTokenIDs: [], choice: 0)
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        logits.withUnsafeBufferPointer { all in
            for r in 0..<rows { _ = sampler.sample(UnsafeBufferPointer(rebasing: all[r * vocab..<(r + 1) * vocab]), state: &state) }
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1000 / Double(rows))
    }
    return Int(best.rounded())
}
