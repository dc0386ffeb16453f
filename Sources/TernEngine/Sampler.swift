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
        let adjusts = !params.logitBias.isEmpty || params.repetitionPenalty != 1 || state.usesCounts || state.suppressing
        let token: Int32 = params.isGreedy && !adjusts ? Self.argmax(logits) : processed.withUnsafeMutableBufferPointer { x in
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
    /// Cost stays O(vocab) per row: top-k keeps a small heap, top-p selects the nucleus by
    /// partitioning (no full sort), min-p is a threshold.
    private func sampleFiltered(_ x: UnsafeMutableBufferPointer<Float>, params: SamplingParams, draw: Double) -> Int32 {
        let n = x.count
        let invT = 1 / params.temperature
        var maxLogit = -Float.infinity
        for i in 0..<n { maxLogit = max(maxLogit, x[i]) }
        guard maxLogit > -.infinity else { return 0 }
        return order.withUnsafeMutableBufferPointer { idx in
            weights.withUnsafeMutableBufferPointer { w in
                // Candidates with unnormalised probabilities exp((x - max) / T); the best has weight 1.
                // With top-k, select on the logits first (same order) so only k exponentials are taken.
                var count = 0
                if params.topK > 0 && params.topK < n {
                    for i in 0..<n { idx[i] = Int32(i) }
                    count = Self.keepHeaviest(params.topK, idx, count: n, weights: x)
                    for j in 0..<count { w[Int(idx[j])] = expf((x[Int(idx[j])] - maxLogit) * invT) }
                } else {
                    for i in 0..<n {
                        let p = expf((x[i] - maxLogit) * invT)
                        w[i] = p
                        if p > 0 { idx[count] = Int32(i); count += 1 }
                    }
                }
                if params.topP < 1 {
                    var total: Double = 0
                    for j in 0..<count { total += Double(w[Int(idx[j])]) }
                    count = Self.nucleus(idx, count: count, weights: w, mass: Double(params.topP) * total)
                }
                // min-p: a floor relative to the most likely token (weight 1), as SGLang applies it last.
                let floor = params.minP
                var kept = 0
                var total: Double = 0
                for j in 0..<count where w[Int(idx[j])] >= floor {
                    idx[kept] = idx[j]
                    total += Double(w[Int(idx[j])])
                    kept += 1
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

    /// Strict order: heavier first, lower id first among equal weights (so results never depend on layout).
    @inline(__always)
    private static func heavier(_ a: Int32, _ b: Int32, _ w: UnsafeMutableBufferPointer<Float>) -> Bool {
        let wa = w[Int(a)], wb = w[Int(b)]
        return wa != wb ? wa > wb : a < b
    }

    /// Keeps the `k` heaviest of `idx[0..<count]` in `idx[0..<k]` (a size-k min-heap, one comparison for most tokens).
    private static func keepHeaviest(_ k: Int, _ idx: UnsafeMutableBufferPointer<Int32>, count: Int,
                                     weights w: UnsafeMutableBufferPointer<Float>) -> Int {
        // idx[0..<k] is a heap whose root is the lightest kept token.
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < k && heavier(idx[m], idx[l], w) { m = l }
                if r < k && heavier(idx[m], idx[r], w) { m = r }
                if m == i { return }
                idx.swapAt(i, m)
                i = m
            }
        }
        for i in stride(from: k / 2 - 1, through: 0, by: -1) { siftDown(i) }
        for j in k..<count where heavier(idx[j], idx[0], w) {
            idx[0] = idx[j]
            siftDown(0)
        }
        return k
    }

    /// Rearranges `idx[0..<count]` so that its first `result` entries are the smallest set of heaviest
    /// tokens whose weights reach `mass` (quickselect on cumulative weight; expected O(count)).
    private static func nucleus(_ idx: UnsafeMutableBufferPointer<Int32>, count: Int,
                                weights w: UnsafeMutableBufferPointer<Float>, mass: Double) -> Int {
        var lo = 0, hi = count
        var remaining = mass
        while hi - lo > 1 {
            // Lomuto partition around the middle element: heavier ones to the front.
            idx.swapAt((lo + hi) / 2, hi - 1)
            let pivot = idx[hi - 1]
            var store = lo
            var upper: Double = 0
            for j in lo..<(hi - 1) where heavier(idx[j], pivot, w) {
                upper += Double(w[Int(idx[j])])
                idx.swapAt(j, store)
                store += 1
            }
            idx.swapAt(store, hi - 1)
            if upper >= remaining {
                hi = store
            } else if upper + Double(w[Int(pivot)]) >= remaining {
                return store + 1
            } else {
                remaining -= upper + Double(w[Int(pivot)])
                lo = store + 1
            }
        }
        return min(count, max(1, hi))
    }

    static func argmax(_ x: UnsafeMutableBufferPointer<Float>) -> Int32 { argmax(UnsafeBufferPointer(x)) }

    static func argmax(_ x: UnsafeBufferPointer<Float>) -> Int32 {
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
