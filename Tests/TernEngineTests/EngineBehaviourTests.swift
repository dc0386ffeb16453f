import Testing
import TernModels
@testable import TernEngine

@Suite struct EngineBehaviourTests {
    let letters = WindowedTextDecoderFactory(LetterDecoder())

    @Test func stopStringsStraddlingTokensEndTheOutputAndAreCutFromTheText() throws {
        var params = SamplingParams(temperature: 0, maxNewTokens: 40, ignoreEOS: true)
        let prompt = [7, 9, 11]
        // Learn the free-running text, then stop on a piece of it that spans two tokens.
        let (free, _) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 1024, pageSize: 4),
                                        requests: [GenerateRequest(id: "f", promptTokens: prompt, sampling: params)], textDecoder: letters)
        let text = free.choice("f").text
        let tokens = free.tokens("f")
        #expect(text == LetterDecoder().decode(tokens))
        // Find a token boundary after a non-empty token, and a stop string across it.
        var offset = 0
        var boundary: (text: Int, token: Int)?
        for (i, token) in tokens.enumerated() {
            offset += LetterDecoder.pieces[token].count
            if i >= 3, !LetterDecoder.pieces[token].isEmpty, i + 1 < tokens.count, !LetterDecoder.pieces[tokens[i + 1]].isEmpty {
                boundary = (offset, i); break
            }
        }
        let cut = try #require(boundary)
        let chars = Array(text)
        let stop = String(chars[(cut.text - 1)...(cut.text)])
        let expectedText = String(text[..<text.firstRange(of: stop)!.lowerBound])
        params.stopStrings = ["zzz", stop]
        let (stopped, core) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 1024, pageSize: 4),
                                              requests: [GenerateRequest(id: "s", promptTokens: prompt, sampling: params)], textDecoder: letters)
        let choice = stopped.choice("s")
        #expect(choice.finish == .stop)
        #expect(choice.match == .string(stop))
        #expect(choice.text == expectedText)
        #expect(choice.tokens == Array(tokens.prefix(choice.tokens.count)))
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func eosAndStopTokensFinishWithTheirReason() throws {
        // Greedy free run; pick its 5th token as a stop token.
        let prompt = [3, 4, 5, 6]
        let free = try runWorkload(HistoryModel(eos: 63), config: EngineConfig(maxTotalTokens: 512, pageSize: 4),
                                   requests: [GenerateRequest(id: "f", promptTokens: prompt, sampling: SamplingParams(temperature: 0, maxNewTokens: 12))]).0
        let tokens = free.tokens("f")
        let stopToken = tokens[4]
        let first = tokens.firstIndex(of: stopToken)!
        let stopped = try runWorkload(HistoryModel(eos: 63), config: EngineConfig(maxTotalTokens: 512, pageSize: 4),
                                      requests: [GenerateRequest(id: "s", promptTokens: prompt,
                                                                 sampling: SamplingParams(temperature: 0, maxNewTokens: 12, stopTokenIDs: [stopToken]))]).0
        #expect(stopped.tokens("s") == Array(tokens[...first]))
        #expect(stopped.choice("s").finish == .stop && stopped.choice("s").match == .token(stopToken))
        let eos = try runWorkload(HistoryModel(eos: stopToken), config: EngineConfig(maxTotalTokens: 512, pageSize: 4),
                                  requests: [GenerateRequest(id: "e", promptTokens: prompt, sampling: SamplingParams(temperature: 0, maxNewTokens: 12))]).0
        #expect(eos.choice("e").match == .eos(stopToken))
    }

    @Test func sameSeedReproducesAloneOrBatched() throws {
        var random = WorkloadRandom(state: 5)
        let sampled = SamplingParams(temperature: 0.9, topK: 20, topP: 0.95, seed: 1234, maxNewTokens: 30, ignoreEOS: true)
        let target = GenerateRequest(id: "t", promptTokens: random.tokens(37), sampling: sampled)
        let noise = mixedRequests(count: 12, seed: 8, promptLengths: 5...60, outputLengths: 5...30,
                                  sampling: SamplingParams(temperature: 1, seed: nil))
        let config = EngineConfig(maxTotalTokens: 4096, pageSize: 4, chunkedPrefillSize: 16)
        let alone = try runWorkload(HistoryModel(scale: 1), config: config, requests: [target]).0
        let batched = try runWorkload(HistoryModel(scale: 1), config: config, requests: noise + [target],
                                      arrivals: Array(0..<12) + [5]).0
        #expect(alone.tokens("t").count == 30)
        #expect(alone.tokens("t") == batched.tokens("t"))
        var other = target
        other.sampling.seed = 4321
        let reseeded = try runWorkload(HistoryModel(scale: 1), config: config, requests: [other]).0
        #expect(reseeded.tokens("t") != alone.tokens("t"))
    }

    @Test func parallelSamplesShareThePromptPagesAndComputeThePromptOnce() throws {
        var random = WorkloadRandom(state: 17)
        let prompt = random.tokens(50)
        let model = CountingModel(HistoryModel(scale: 1))
        let config = EngineConfig(maxTotalTokens: 2048, pageSize: 8)
        let core = try EngineCore(model: model, config: config)
        let out = OutputCollector()
        let params = SamplingParams(temperature: 1, seed: 9, maxNewTokens: 6, ignoreEOS: true, n: 4)
        core.add(GenerateRequest(id: "n", promptTokens: prompt, sampling: params), sink: out.sink("n"))
        core.step()  // prefill + fork
        #expect(core.running.count == 4)
        let shared = Set(core.running.map { Array($0.pages.prefix(6)) })
        #expect(shared.count == 1)  // 6 whole prompt pages, the same for all choices
        core.runUntilIdle()
        // Prompt once; each extra choice recomputes the partial last page (50 - 48 = 2 tokens) once.
        #expect(model.tokens == 50 + 3 * 2 + 4 * 5)
        #expect(out.finished == ["n"])
        let choices = (0..<4).map { out.tokens("n", $0) }
        #expect(choices.allSatisfy { $0.count == 6 })
        #expect(Set(choices).count > 1)
        // Choice 0 equals an n = 1 run with the same seed.
        var single = params
        single.n = 1
        let one = try runWorkload(HistoryModel(scale: 1), config: config, requests: [GenerateRequest(id: "n", promptTokens: prompt, sampling: single)]).0
        #expect(one.tokens("n") == choices[0])
        #expect(core.pageAccountingProblems().isEmpty)
    }

    @Test func usageAndLogprobsAreReported() throws {
        let params = SamplingParams(temperature: 0, maxNewTokens: 5, ignoreEOS: true, logprobs: true, topLogprobs: 3)
        let (out, core) = try runWorkload(HistoryModel(), config: EngineConfig(maxTotalTokens: 512, pageSize: 4),
                                          requests: [GenerateRequest(id: "u", promptTokens: [1, 2, 3], sampling: params)])
        let choice = out.choice("u")
        #expect(choice.usage == Usage(promptTokens: 3, completionTokens: 5, cachedTokens: 0))
        #expect(choice.logprobs.count == 5)
        for (lp, token) in zip(choice.logprobs, choice.tokens) {
            #expect(lp.token == token && lp.topTokens.count == 3)
            #expect(lp.topTokens[0] == token)  // greedy picks the most likely
            #expect(lp.logprob <= 0 && lp.logprob == lp.topLogprobs[0])
        }
        let metrics = core.metrics()
        #expect(metrics.promptTokens == 3 && metrics.generatedTokens == 5)
        #expect(metrics.timeToFirstToken.count == 1 && metrics.interTokenLatency.count == 4 && metrics.endToEndLatency.count == 1)
    }
}
