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
            var best = Double.infinity
            var tokens = 0
            for _ in 0..<rounds {
                let start = DispatchTime.now().uptimeNanoseconds
                tokens = 0
                for doc in corpus { tokens += tokenizer.encode(doc).count }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            let line = String(format: "tern %@: %.2f MB/s, %d tokens, best of %d: %.3f s", name,
                              Double(bytes) / best / 1e6, tokens, rounds, best)
            print(line)
        }
    }
}
