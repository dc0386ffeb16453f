import Foundation
import Testing
@testable import TernEngine

@Suite struct SamplerTests {
    func sample(_ logits: [Float], _ params: SamplingParams, prompt: [Int32] = [], history: [Int32] = [], eos: [Int] = []) -> SampledToken {
        let sampler = Sampler(vocabSize: logits.count)
        var state = SamplingState(params: params, prompt: prompt, eosTokenIDs: eos, choice: 0)
        for token in history { state.record(token) }
        return logits.withUnsafeBufferPointer { sampler.sample($0, state: &state) }
    }

    @Test func greedyTakesTheLargestLogit() {
        #expect(sample([0.1, 2, -1, 1.9], .greedy).token == 1)
    }

    @Test func logitBiasCanForceAToken() {
        var params = SamplingParams.greedy
        params.logitBias = [2: 100]
        #expect(sample([0.1, 2, -1, 1.9], params).token == 2)
    }

    @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfSeenTokens() {
        var params = SamplingParams.greedy
        params.repetitionPenalty = 2
        // Token 1 (seen in the prompt) drops from 2 to 1; token 3 (unseen) wins.
        #expect(sample([0, 2, -1, 1.5], params, prompt: [1]).token == 3)
        // A negative seen logit gets more negative: -0.4 → -0.8 loses to unseen -0.5.
        #expect(sample([-0.4, -0.5, -3, -3], params, prompt: [0]).token == 1)
        // Output tokens count as seen too.
        #expect(sample([0, 2, -1, 1.5], params, history: [1]).token == 3)
    }

    @Test func frequencyAndPresencePenaltiesUseGeneratedTokenCounts() {
        var params = SamplingParams.greedy
        params.frequencyPenalty = 0.5
        // Token 0 generated 3 times: 3 - 1.5 = 1.5 < 2.
        #expect(sample([3, 2, 0], params, history: [0, 0, 0]).token == 1)
        #expect(sample([3, 2, 0], params, history: [0]).token == 0)
        params.frequencyPenalty = 0
        params.presencePenalty = 1.5
        #expect(sample([3, 2, 0], params, history: [0]).token == 1)
        // The prompt does not count for OpenAI penalties.
        #expect(sample([3, 2, 0], params, prompt: [0]).token == 0)
    }

    @Test func minTokensSuppressesEOSAndStopTokensUntilReached() {
        var params = SamplingParams.greedy
        params.minTokens = 2
        params.stopTokenIDs = [1]
        #expect(sample([5, 4, 3], params, eos: [0]).token == 2)
        #expect(sample([5, 4, 3], params, history: [2, 2], eos: [0]).token == 0)
        // With ignore_eos, EOS is an ordinary token: not suppressed (the stop token still is).
        params.ignoreEOS = true
        #expect(sample([5, 4, 3], params, eos: [0]).token == 0)
        #expect(sample([4, 5, 3], params, eos: [0]).token == 0)
    }

    @Test func topKOfOneAndTinyTopPAreGreedy() {
        let logits: [Float] = (0..<50).map { Float(($0 * 37) % 50) / 10 }
        let best = Int32(logits.firstIndex(of: logits.max()!)!)
        for seed in 0..<20 as Range<UInt64> {
            #expect(sample(logits, SamplingParams(temperature: 1, topK: 1, seed: seed)).token == best)
            #expect(sample(logits, SamplingParams(temperature: 1, topP: 0.01, seed: seed)).token == best)
            #expect(sample(logits, SamplingParams(temperature: 1, minP: 0.99, seed: seed)).token == best)
        }
    }

    @Test func filtersKeepOnlyAllowedTokens() {
        // Probabilities ∝ [8, 4, 2, 1, 1]/16.
        let logits: [Float] = [8, 4, 2, 1, 1].map { Float(log(Double($0))) }
        var seen = Set<Int32>()
        for seed in 0..<300 as Range<UInt64> { seen.insert(sample(logits, SamplingParams(topK: 2, seed: seed)).token) }
        #expect(seen == [0, 1])
        seen = []
        // top-p 0.7: 0.5 + 0.25 reaches it → {0, 1}.
        for seed in 0..<300 as Range<UInt64> { seen.insert(sample(logits, SamplingParams(topP: 0.7, seed: seed)).token) }
        #expect(seen == [0, 1])
        seen = []
        // min-p 0.2: tokens at ≥ 0.2 × 0.5 = 0.1 → {0, 1, 2}.
        for seed in 0..<300 as Range<UInt64> { seen.insert(sample(logits, SamplingParams(minP: 0.2, seed: seed)).token) }
        #expect(seen == [0, 1, 2])
    }

    @Test func samplingFollowsTheTemperatureScaledDistribution() {
        let logits: [Float] = [0, Float(log(3.0))]  // p = [0.25, 0.75] at T = 1
        var ones = 0
        let sampler = Sampler(vocabSize: 2)
        var state = SamplingState(params: SamplingParams(seed: 42), prompt: [], eosTokenIDs: [], choice: 0)
        for _ in 0..<4000 { ones += logits.withUnsafeBufferPointer { Int(sampler.sample($0, state: &state).token) } }
        #expect(abs(Double(ones) / 4000 - 0.75) < 0.03)
        // T = 0.5 squares the odds: 9:1.
        ones = 0
        state = SamplingState(params: SamplingParams(temperature: 0.5, seed: 42), prompt: [], eosTokenIDs: [], choice: 0)
        for _ in 0..<4000 { ones += logits.withUnsafeBufferPointer { Int(sampler.sample($0, state: &state).token) } }
        #expect(abs(Double(ones) / 4000 - 0.9) < 0.03)
    }

    @Test func logprobsAreTheRawLogSoftmaxWithTopAlternatives() {
        let logits: [Float] = [1, 3, 2, 0]
        var params = SamplingParams.greedy
        params.logprobs = true
        params.topLogprobs = 2
        params.logitBias = [3: 10]  // processing changes the choice, not the reported distribution
        let result = sample(logits, params)
        let logZ = Float(log(logits.map { exp(Double($0)) }.reduce(0, +)))
        #expect(result.token == 3)
        let lp = try! #require(result.logprob)
        #expect(abs(lp.logprob - (0 - logZ)) < 1e-5)
        #expect(lp.topTokens == [1, 2])
        #expect(abs(lp.topLogprobs[0] - (3 - logZ)) < 1e-5 && abs(lp.topLogprobs[1] - (2 - logZ)) < 1e-5)
    }

    @Test func choicesOfOneSeedDrawDifferentButReproducibleStreams() {
        var a = SamplingRandom(seed: 5, choice: 0), b = SamplingRandom(seed: 5, choice: 1), c = SamplingRandom(seed: 5, choice: 1)
        let x = a.next(), y = b.next()
        #expect(x != y && y == c.next())
    }
}

@Suite struct StopStringTests {
    @Test func matcherFindsStopStringsAcrossPiecesAndHoldsBackPossibleStarts() {
        var matcher = StopStringMatcher(stops: ["STOP", "xy"])
        #expect(matcher.feed("hello S").emit == "hello ")  // "S" might begin "STOP"
        #expect(matcher.feed("T").emit == "")
        let last = matcher.feed("OP and more")
        #expect(last.emit == "" && last.matched == "STOP")
        var other = StopStringMatcher(stops: ["STOP"])
        #expect(other.feed("aST").emit == "a")
        #expect(other.feed("x").emit == "STx")  // "STx" cannot start a stop string any more
        #expect(other.feed("y and ST").emit == "y and ")
        #expect(other.flush() == "ST")
    }

    @Test func matcherWithoutStopsPassesTextThrough() {
        var matcher = StopStringMatcher(stops: [])
        #expect(matcher.feed("abc").emit == "abc")
        #expect(matcher.flush() == "")
    }

    @Test func windowedDecoderNeverEmitsHalfACharacter() {
        // Token 1 = first byte of "é", token 2 = its second byte; other tokens are ASCII letters.
        struct ByteDecoder: TokenTextDecoder {
            func decode(_ ids: [Int]) -> String {
                let bytes = ids.flatMap { id -> [UInt8] in id == 1 ? [0xC3] : id == 2 ? [0xA9] : [UInt8(96 + id)] }
                return String(decoding: bytes, as: UTF8.self)
            }
        }
        let decoder = WindowedTextDecoderFactory(ByteDecoder()).makeDecoder(prompt: [3])
        #expect(decoder.push(4) == "d")
        #expect(decoder.push(1) == "")
        #expect(decoder.push(2) == "é")
        #expect(decoder.push(5) == "e")
        #expect(decoder.push(1) == "")
        #expect(decoder.flush() == "\u{FFFD}")
    }
}
