import Foundation
import Testing
@testable import TernTokenizer

/// Single-thread encode throughput on the reference corpus. Runs only with TERN_BENCH=1, in a release build:
/// `TERN_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter EncodeThroughputBenchmark`
/// (scripts/tokenizer/bench_encode.sh runs it next to HF tokenizers).
@Suite struct EncodeThroughputBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["TERN_BENCH"] == "1"

    @Test(.enabled(if: enabled)) func encodeThroughput() throws {
        var tokenizers: [(String, Tokenizer)] = []
        if let json = Fixtures.deepseekFullTokenizerJSON() { tokenizers.append(("deepseek-full", try Tokenizer(tokenizerJSON: json))) }
        for name in ["llama3", "qwen2", "gpt2", "sp-llama2"] { tokenizers.append((name, try Fixtures.tokenizer(name))) }
        let corpus = Fixtures.corpus
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        let rounds = Int(ProcessInfo.processInfo.environment["TERN_BENCH_ROUNDS"] ?? "5") ?? 5
        for (name, tokenizer) in tokenizers {
            _ = corpus.map { tokenizer.encode($0) }  // warm-up (category table, caches)
            var bestWall = Double.infinity
            var bestCPU = Double.infinity
            var tokens = 0
            for _ in 0..<rounds {
                let wall = DispatchTime.now().uptimeNanoseconds
                let cpu = Self.processCPUSeconds()
                tokens = 0
                for doc in corpus { tokens += tokenizer.encode(doc).count }
                bestCPU = min(bestCPU, Self.processCPUSeconds() - cpu)
                bestWall = min(bestWall, Double(DispatchTime.now().uptimeNanoseconds - wall) / 1e9)
            }
            // CPU time is the fair figure on a shared machine; wall time is printed alongside.
            print(String(format: "tern %@: %.2f MB/s (cpu time), %.2f MB/s (wall), %d tokens, best of %d", name,
                         Double(bytes) / bestCPU / 1e6, Double(bytes) / bestWall / 1e6, tokens, rounds))
        }
    }

    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
