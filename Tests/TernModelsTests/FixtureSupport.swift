import Foundation
import TernBackend
import TernModels

/// The repository's fixture models (made by scripts/fixtures/make_fixtures.py with transformers).
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/models")

    static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    struct Prompt {
        var inputIDs: [Int32]
        var logitPositions: [Int]
        var logits: [[Float]]
        var greedy: [Int32]
    }

    static func reference(_ name: String, file: String = "reference.json") throws -> [Prompt] {
        let data = try Data(contentsOf: directory(name).appendingPathComponent(file))
        let json = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (json["prompts"] as! [[String: Any]]).map { p in
            Prompt(inputIDs: (p["input_ids"] as! [NSNumber]).map { Int32(truncating: $0) },
                   logitPositions: (p["logit_positions"] as! [NSNumber]).map { Int(truncating: $0) },
                   logits: (p["logits"] as! [[NSNumber]]).map { $0.map { Float(truncating: $0) } },
                   greedy: (p["greedy_continuation"] as! [NSNumber]).map { Int32(truncating: $0) })
        }
    }
}

/// Runs a prompt through the model with all positions' logits, and a greedy continuation,
/// straight on the model (no engine) with a one-sequence page table.
struct ReferenceRunner {
    let model: any LanguageModel
    let pageSize: Int

    func promptLogits(_ prompt: [Int32]) throws -> [[Float]] {
        let cache = try model.makeKVCache(pageSize: pageSize, pageCount: (prompt.count + pageSize - 1) / pageSize)
        let batch = ForwardBatch.contiguousPrefill([prompt], pageSize: pageSize, allLogits: true)
        let flat = try model.backend.downloadFloats(try model.forward(batch, cache: cache))
        let vocab = model.config.vocabSize
        return (0..<prompt.count).map { Array(flat[$0 * vocab..<($0 + 1) * vocab]) }
    }

    /// Greedy decoding one token per step, reusing the KV cache; `chunk` splits the prompt's
    /// prefill into several steps to exercise prefill against a cached prefix.
    func greedy(_ prompt: [Int32], newTokens: Int, chunk: Int? = nil) throws -> [Int32] {
        let total = prompt.count + newTokens
        let pages = (total + pageSize - 1) / pageSize
        let cache = try model.makeKVCache(pageSize: pageSize, pageCount: pages)
        // Pages in reverse order so page-table indirection is exercised.
        let pageTable = (0..<pages).reversed().map { Int32($0) }
        func slot(_ position: Int) -> Int32 { pageTable[position / pageSize] * Int32(pageSize) + Int32(position % pageSize) }
        var tokens = prompt
        var done = 0
        var output: [Int32] = []
        while output.count < newTokens {
            let step = output.isEmpty ? min(chunk ?? prompt.count, prompt.count - done) : 1
            let ids = Array(tokens[done..<done + step])
            let batch = ForwardBatch(tokenIDs: ids, positions: (done..<done + step).map { Int32($0) },
                                     slots: (done..<done + step).map(slot),
                                     sequences: [SequenceSpan(queryStart: 0, queryLength: step, kvLength: done + step, pageTableStart: 0)],
                                     pageTable: pageTable, pageSize: pageSize, logitRows: [Int32(step - 1)])
            let logits = try model.backend.argmax(try model.forward(batch, cache: cache))
            done += step
            if done == tokens.count {
                output.append(logits[0])
                tokens.append(logits[0])
            }
        }
        return output
    }
}
