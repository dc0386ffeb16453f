import Synchronization
import TernEngine

/// A delta of one of a request's prompts (completions accept several prompts per request).
struct PromptDelta: Sendable {
    var prompt: Int
    var delta: OutputDelta
}

extension ModelService {
    /// Submits every prompt and merges their deltas into one stream, in the order the engine made
    /// them. The stream ends when every prompt finished and throws the first engine refusal.
    /// Cancelling the consumer (a client that went away) aborts all of them, which frees their KV pages.
    func submit(_ prompts: [PreparedPrompt], requestID: String) -> AsyncThrowingStream<PromptDelta, Error> {
        let (stream, continuation) = AsyncThrowingStream<PromptDelta, Error>.makeStream()
        let ids = prompts.indices.map { prompts.count == 1 ? requestID : "\(requestID)-\($0)" }
        let remaining = Mutex(prompts.count)
        let engine = runner
        continuation.onTermination = { termination in
            if case .cancelled = termination { for id in ids { engine.abort(id) } }
        }
        for (i, prompt) in prompts.enumerated() {
            let request = GenerateRequest(id: ids[i], promptTokens: prompt.ids, sampling: prompt.params)
            engine.submit(request, bootstrap: prompt.bootstrap) { event in
                switch event {
                case .delta(let delta):
                    continuation.yield(PromptDelta(prompt: i, delta: delta))
                case .finished:
                    let left = remaining.withLock { $0 -= 1; return $0 }
                    if left == 0 { continuation.finish() }
                case .failed(let error):
                    continuation.finish(throwing: error)
                    // Siblings that were accepted must not run on for nobody.
                    for (j, id) in ids.enumerated() where j != i { engine.abort(id) }
                }
            }
        }
        return stream
    }
}
