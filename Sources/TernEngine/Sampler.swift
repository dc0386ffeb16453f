import Foundation

/// The token a sampler chose, with its log-probability when asked for.
public struct SampledToken: Sendable {
    public var token: Int32
    public var logprob: TokenLogprob?
}

/// Chooses next tokens from `[rows, vocab]` host logits. Owns scratch buffers reused across calls,
/// so one sampler serves a whole step loop (not thread-safe). A GPU sampler can replace it behind
/// the same call shape.
public final class Sampler {
    public let vocabSize: Int
    private var processed: [Float]
    private var order: [Int32]
    private var weights: [Float]

    public init(vocabSize: Int) {
        self.vocabSize = vocabSize
        processed = Array(repeating: 0, count: vocabSize)
        order = Array(repeating: 0, count: vocabSize)
        weights = Array(repeating: 0, count: vocabSize)
    }

    /// Samples one token from `logits` (one row, `vocabSize` wide) under `state`'s parameters and
    /// records it in `state`. Logprobs are of the raw model distribution (as vLLM/SGLang by default).
    public func sample(_ logits: UnsafeBufferPointer<Float>, state: inout SamplingState) -> SampledToken {
        precondition(logits.count == vocabSize)
        let params = state.params
        let draw = state.random.nextUnit()  // advanced once per token, greedy or not
        let token: Int32 = processed.withUnsafeMutableBufferPointer { x in
            _ = x.initialize(from: logits)
            applyAdjustments(x, state: state)
            if params.isGreedy { return Self.argmax(x) }
            return sampleFiltered(x, params: params, draw: draw)
        }
        state.record(token)
        var result = SampledToken(token: token, logprob: nil)
        if params.logprobs || params.topLogprobs > 0 {
            result.logprob = Self.logprob(of: token, in: logits, top: params.topLogprobs)
        }
        return result
    }

    /// logit bias, repetition / frequency / presence penalties, min-tokens suppression.
    private func applyAdjustments(_ x: UnsafeMutableBufferPointer<Float>, state: SamplingState) {
        let params = state.params
        for (id, bias) in params.logitBias { x[id] += bias }
        if params.repetitionPenalty != 1 {
            let p = params.repetitionPenalty
            for id in state.seen {
                let v = x[Int(id)]
                x[Int(id)] = v > 0 ? v / p : v * p
            }
        }
        if state.usesCounts {
            for (id, count) in state.outputCounts {
                x[Int(id)] -= params.frequencyPenalty * Float(count) + params.presencePenalty
            }
        }
        if state.suppressing {
            for id in state.suppressedUntilMin { x[Int(id)] = -.infinity }
        }
    }

    /// Temperature, top-k, top-p, min-p, then one draw from what is left.
    private func sampleFiltered(_ x: UnsafeMutableBufferPointer<Float>, params: SamplingParams, draw: Double) -> Int32 {
        let n = x.count
        let invT = 1 / params.temperature
        var maxLogit = -Float.infinity
        for i in 0..<n { maxLogit = max(maxLogit, x[i]) }
        guard maxLogit > -.infinity else { return 0 }
        let k = params.topK > 0 ? min(params.topK, n) : n
        let needsOrder = k < n || params.topP < 1
        return order.withUnsafeMutableBufferPointer { idx in
            weights.withUnsafeMutableBufferPointer { w in
                // Candidates with their unnormalised probabilities exp((x - max) / T).
                var count = 0
                for i in 0..<n {
                    let p = expf((x[i] - maxLogit) * invT)
                    if p > 0 { idx[count] = Int32(i); w[i] = p; count += 1 }
                }
                if needsOrder {
                    // Most likely first; ties broken by token id so the order is reproducible.
                    let candidates = UnsafeMutableBufferPointer(rebasing: idx[0..<count])
                    if k < count {
                        Self.selectTop(k, candidates, weights: w)
                        count = k
                    }
                    var head = UnsafeMutableBufferPointer(rebasing: idx[0..<count])
                    head.sort { (a: Int32, b: Int32) -> Bool in
                        let wa = w[Int(a)], wb = w[Int(b)]
                        return wa != wb ? wa > wb : a < b
                    }
                    if params.topP < 1 {
                        var total: Float = 0
                        for j in 0..<count { total += w[Int(idx[j])] }
                        let target = params.topP * total
                        var running: Float = 0
                        for j in 0..<count {
                            running += w[Int(idx[j])]
                            if running >= target { count = j + 1; break }
                        }
                    }
                }
                // min-p: relative to the most likely token, whose weight is exp(0) = 1.
                var total: Double = 0
                let floor = params.minP
                var kept = 0
                for j in 0..<count {
                    let id = idx[j]
                    if w[Int(id)] >= floor { idx[kept] = id; kept += 1; total += Double(w[Int(id)]) }
                }
                let target = draw * total
                var running: Double = 0
                for j in 0..<kept {
                    running += Double(w[Int(idx[j])])
                    if running > target { return idx[j] }
                }
                return idx[max(0, kept - 1)]
            }
        }
    }

    /// Moves the `k` heaviest candidates to the front (quickselect).
    private static func selectTop(_ k: Int, _ idx: UnsafeMutableBufferPointer<Int32>, weights w: UnsafeMutableBufferPointer<Float>) {
        func heavier(_ a: Int32, _ b: Int32) -> Bool { w[Int(a)] != w[Int(b)] ? w[Int(a)] > w[Int(b)] : a < b }
        var lo = 0, hi = idx.count - 1
        while lo < hi {
            let pivot = idx[(lo + hi) / 2]
            var i = lo, j = hi
            while i <= j {
                while heavier(idx[i], pivot) { i += 1 }
                while heavier(pivot, idx[j]) { j -= 1 }
                if i <= j { idx.swapAt(i, j); i += 1; j -= 1 }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { break }
        }
    }

    static func argmax(_ x: UnsafeMutableBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<x.count where x[i] > bestValue { bestValue = x[i]; best = i }
        return Int32(best)
    }

    /// log-softmax of `token` and the `top` most likely tokens of the raw row.
    static func logprob(of token: Int32, in logits: UnsafeBufferPointer<Float>, top: Int) -> TokenLogprob {
        var maxLogit = -Float.infinity
        for v in logits { maxLogit = max(maxLogit, v) }
        var sum: Double = 0
        for v in logits { sum += Double(expf(v - maxLogit)) }
        let logZ = maxLogit + Float(log(sum))
        var result = TokenLogprob(token: Int(token), logprob: logits[Int(token)] - logZ)
        if top > 0 {
            // Small n: keep a sorted list of the best seen.
            var best: [(Int, Float)] = []
            best.reserveCapacity(top + 1)
            for (i, v) in logits.enumerated() where best.count < top || v > best[best.count - 1].1 {
                var at = best.count
                while at > 0 && best[at - 1].1 < v { at -= 1 }
                best.insert((i, v), at: at)
                if best.count > top { best.removeLast() }
            }
            result.topTokens = best.map(\.0)
            result.topLogprobs = best.map { $0.1 - logZ }
        }
        return result
    }
}
