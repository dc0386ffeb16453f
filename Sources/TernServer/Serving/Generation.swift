import TernEngine
import TernTokenizer

/// One prompt ready for the engine.
struct PreparedPrompt: Sendable {
    var ids: [Int]
    var params: SamplingParams
    var skipSpecialTokens: Bool
    /// PD disaggregation: where this request's prefill and decode servers meet.
    var bootstrap: BootstrapInfo? = nil
}

/// Everything one choice produced, gathered from its deltas.
struct ChoiceOutput: Sendable {
    var text = ""
    var tokenIDs: [Int] = []
    var logprobs: [TokenLogprob] = []
    var finishReason: FinishReason?
    var matchedStop: StopMatch?
    var usage = Usage()
}

/// Re-decodes a choice's tokens when the client wants special tokens in the text
/// (the engine's text skips them).
struct ChoiceText {
    private var detokenizer: IncrementalDetokenizer?

    init(tokenizer: Tokenizer?, skipSpecialTokens: Bool) {
        detokenizer = skipSpecialTokens ? nil : tokenizer.map { IncrementalDetokenizer(tokenizer: $0, skipSpecialTokens: false) }
    }

    /// The text of `delta` as the client should see it.
    mutating func text(of delta: OutputDelta) -> String {
        guard var d = detokenizer else { return delta.text }
        var text = d.append(contentsOf: delta.tokenIDs)
        if delta.finishReason != nil { text += d.finish() }
        detokenizer = d
        return text
    }
}

extension ModelService {
    /// Runs prompts to completion (the non-streaming endpoints). Returns, per prompt, its choices in index order.
    func generateAll(_ prompts: [PreparedPrompt], requestID: String) async throws -> [[ChoiceOutput]] {
        var outputs = prompts.map { Array(repeating: ChoiceOutput(), count: $0.params.n) }
        var texts = prompts.map { Array(repeating: ChoiceText(tokenizer: tokenizer, skipSpecialTokens: $0.skipSpecialTokens),
                                        count: $0.params.n) }
        // Each prompt is its own engine request and is timed as one (as SGLang does for batches).
        var clocks = Array(repeating: RequestClock(), count: prompts.count)
        var open = prompts.map(\.params.n)
        for try await item in submit(prompts, requestID: requestID) {
            let (p, delta) = (item.prompt, item.delta)
            clocks[p].tokens(delta.tokenIDs.count, metrics: metrics)
            var out = outputs[p][delta.index]
            out.text += texts[p][delta.index].text(of: delta)
            out.tokenIDs += delta.tokenIDs
            if let lp = delta.logprobs { out.logprobs += lp }
            if let stop = delta.matchedStop { out.matchedStop = stop }
            out.usage = delta.usage
            if let reason = delta.finishReason {
                out.finishReason = reason
                open[p] -= 1
                if open[p] == 0 { _ = clocks[p].finish(aborted: reason == .abort, metrics: metrics) }
            }
            outputs[p][delta.index] = out
        }
        return outputs
    }
}

/// Sums of the usage of a request's choices (OpenAI counts each prompt once).
struct UsageTotals {
    var promptTokens = 0
    var completionTokens = 0
    var cachedTokens = 0
    var totalTokens: Int { promptTokens + completionTokens }

    init() {}

    init(_ perPrompt: [[ChoiceOutput]]) {
        for choices in perPrompt {
            promptTokens += choices.first?.usage.promptTokens ?? 0
            cachedTokens += choices.first?.usage.cachedTokens ?? 0
            completionTokens += choices.reduce(0) { $0 + $1.usage.completionTokens }
        }
    }

    func write(_ w: inout JSONWriter) {
        w.object { w in
            w.field("prompt_tokens", promptTokens)
            w.field("completion_tokens", completionTokens)
            w.field("total_tokens", totalTokens)
            if cachedTokens > 0 {
                w.key("prompt_tokens_details")
                w.object { w in w.field("cached_tokens", cachedTokens) }
            }
        }
    }
}
