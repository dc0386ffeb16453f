import Foundation
import TernBackend
import TernCore
import TernEngine
import TernModels

func fakeConfig(vocab: Int, maxPositions: Int = 4096, eos: Int = 0) -> ModelConfig {
    let json = """
    {"architectures":["LlamaForCausalLM"],"hidden_size":8,"num_attention_heads":1,"num_hidden_layers":1,
     "intermediate_size":8,"vocab_size":\(vocab),"max_position_embeddings":\(maxPositions),"eos_token_id":\(eos)}
    """
    return try! ModelConfig.parse(Data(json.utf8))
}

enum FakeModelError: Error { case badBatch(String) }

/// A model whose logits depend on a sequence's whole history, read back from the KV cache through
/// the page table: each new token's id is stored in its slot, and each logits row hashes the ids
/// found at positions 0...row. A wrong page table, slot or position gives different logits (or an
/// error), so engine bookkeeping bugs show up as changed outputs.
final class HistoryModel: LanguageModel, @unchecked Sendable {
    let config: ModelConfig
    let backend: any Backend = CPUBackend()
    let kvLayout = KVCacheLayout(layers: 1, kvHeads: 1, keyDim: 1, valueDim: 0, dtype: .f32)
    /// Logit spread; large values make greedy choices robust, small ones keep sampling interesting.
    let scale: Float

    init(vocab: Int = 64, maxPositions: Int = 4096, eos: Int = 0, scale: Float = 3) {
        config = fakeConfig(vocab: vocab, maxPositions: maxPositions, eos: eos)
        self.scale = scale
    }

    func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor {
        let vocab = config.vocabSize
        let store = cache.keys[0].typedHost(Float.self)
        let size = batch.pageSize
        func slot(_ sequence: SequenceSpan, _ position: Int) -> Int {
            Int(batch.pageTable[sequence.pageTableStart + position / size]) * size + position % size
        }
        var rowOwner: [Int: (SequenceSpan, Int)] = [:]
        for sequence in batch.sequences {
            let pages = (sequence.kvLength + size - 1) / size
            guard sequence.pageTableStart + pages <= batch.pageTable.count else { throw FakeModelError.badBatch("page table too short") }
            for i in 0..<sequence.queryLength {
                let row = sequence.queryStart + i
                let position = sequence.firstPosition + i
                guard Int(batch.positions[row]) == position else { throw FakeModelError.badBatch("position \(batch.positions[row]) ≠ \(position)") }
                guard Int(batch.slots[row]) == slot(sequence, position) else { throw FakeModelError.badBatch("slot mismatch at row \(row)") }
                guard batch.slots[row] >= 0, Int(batch.slots[row]) < cache.slotCount else { throw FakeModelError.badBatch("slot out of range") }
                store[Int(batch.slots[row])] = Float(batch.tokenIDs[row])
                rowOwner[row] = (sequence, position)
            }
        }
        var logits = [Float](repeating: 0, count: batch.logitRows.count * vocab)
        for (r, row) in batch.logitRows.enumerated() {
            guard let (sequence, position) = rowOwner[Int(row)] else { throw FakeModelError.badBatch("logit row \(row) has no token") }
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for p in 0...position {
                hash = (hash ^ UInt64(bitPattern: Int64(store[slot(sequence, p)]))) &* 0x100_0000_01b3
            }
            for v in 0..<vocab {
                var z = hash &+ UInt64(v) &* 0x9E37_79B9_7F4A_7C15
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                logits[r * vocab + v] = (Float(z >> 40) / Float(1 << 24) * 2 - 1) * scale
            }
        }
        return try backend.upload(floats: logits, shape: [batch.logitRows.count, vocab], as: .f32)
    }
}

/// Counts the tokens a wrapped model actually processes.
final class CountingModel: LanguageModel, @unchecked Sendable {
    let inner: any LanguageModel
    private let lock = NSLock()
    private var _tokens = 0
    private var _steps = 0

    init(_ inner: any LanguageModel) { self.inner = inner }

    var config: ModelConfig { inner.config }
    var backend: any Backend { inner.backend }
    var kvLayout: KVCacheLayout { inner.kvLayout }
    var tokens: Int { lock.withLock { _tokens } }
    var steps: Int { lock.withLock { _steps } }

    func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor {
        lock.withLock { _tokens += batch.tokenCount; _steps += 1 }
        return try inner.forward(batch, cache: cache)
    }
}

/// Fails every step (error paths).
final class FailingModel: LanguageModel, @unchecked Sendable {
    let inner = HistoryModel()
    var config: ModelConfig { inner.config }
    var backend: any Backend { inner.backend }
    var kvLayout: KVCacheLayout { inner.kvLayout }
    struct Boom: Error {}
    func forward(_ batch: ForwardBatch, cache: KVCache) throws -> Tensor { throw Boom() }
}

/// Token id i decodes to a fixed piece of text: letters, so stop strings can straddle tokens.
struct LetterDecoder: TokenTextDecoder {
    static let pieces = (0..<64).map { i -> String in
        let letters = Array("abcdefgh")
        return i == 0 ? "" : String(letters[i % 8]) + (i % 3 == 0 ? String(letters[(i / 8) % 8]) : "")
    }
    func decode(_ ids: [Int]) -> String { ids.map { Self.pieces[$0 % 64] }.joined() }
}

/// Collects a core's output per request (the core calls sinks on the caller's thread).
final class OutputCollector {
    struct Choice {
        var tokens: [Int] = []
        var text = ""
        var logprobs: [TokenLogprob] = []
        var finish: FinishReason?
        var match: StopMatch?
        var usage = Usage()
        var deltas = 0
    }
    var choices: [String: [Int: Choice]] = [:]
    var finished: Set<String> = []
    var errors: [String: EngineError] = [:]

    func sink(_ id: String) -> OutputSink {
        { [self] event in
            switch event {
            case .delta(let d):
                precondition(d.requestID == id)
                var c = choices[id, default: [:]][d.index, default: Choice()]
                precondition(c.finish == nil, "delta after finish")
                c.tokens += d.tokenIDs
                c.text += d.text
                c.logprobs += d.logprobs ?? []
                c.finish = d.finishReason
                c.match = d.matchedStop
                c.usage = d.usage
                c.deltas += 1
                choices[id, default: [:]][d.index] = c
            case .finished:
                precondition(!finished.contains(id))
                finished.insert(id)
            case .failed(let e):
                errors[id] = e
            }
        }
    }

    func tokens(_ id: String, _ index: Int = 0) -> [Int] { choices[id]?[index]?.tokens ?? [] }
    func choice(_ id: String, _ index: Int = 0) -> Choice { choices[id]?[index] ?? Choice() }
}

/// Deterministic pseudo-random numbers for building workloads.
struct WorkloadRandom {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func int(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(next() % UInt64(range.count)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) * 0x1.0p-53 < p }
    mutating func tokens(_ count: Int, vocab: Int = 64) -> [Int] { (0..<count).map { _ in 1 + Int(next() % UInt64(vocab - 1)) } }
}
