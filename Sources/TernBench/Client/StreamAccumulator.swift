import Foundation

/// Turns one response's stream payloads into chunk arrival times and token counts.
///
/// - `tern` (`/generate`): each chunk carries the cumulative `completion_tokens`, so the tokens a
///   chunk adds are exact.
/// - `openai` / `openai-chat`: a chunk carries text only. A chunk with text counts one token plus
///   any earlier chunks whose text was empty (bytes held back mid-character); the server's final
///   `usage` then cross-checks the count (a mismatch is reported, not hidden). A chunk with
///   `token_ids` (a server without a tokenizer) counts exactly those.
public struct StreamAccumulator: Sendable {
    public let backend: BenchBackend
    public private(set) var chunkTimes: [Double] = []
    public private(set) var chunkTokens: [Int] = []
    public private(set) var reportedPromptTokens: Int?
    public private(set) var reportedCompletionTokens: Int?
    public private(set) var error: String?
    private var cumulativeTokens = 0
    private var heldBack = 0

    public init(backend: BenchBackend) { self.backend = backend }

    /// One `data:` payload received `time` seconds after the request started.
    public mutating func consume(_ payload: [UInt8], at time: Double) {
        if JSONScan.isError(payload) {
            error = String(decoding: payload, as: UTF8.self)
            return
        }
        switch backend {
        case .tern: consumeNative(payload, at: time)
        case .openai, .openaiChat: consumeOpenAI(payload, at: time)
        }
    }

    private mutating func record(_ tokens: Int, at time: Double) {
        chunkTimes.append(time)
        chunkTokens.append(tokens)
    }

    private mutating func consumeNative(_ payload: [UInt8], at time: Double) {
        if let prompt = JSONScan.lastInteger("prompt_tokens", in: payload) { reportedPromptTokens = prompt }
        guard let total = JSONScan.lastInteger("completion_tokens", in: payload) else { return }
        reportedCompletionTokens = total
        if total > cumulativeTokens {
            record(total - cumulativeTokens, at: time)
            cumulativeTokens = total
        }
    }

    private mutating func consumeOpenAI(_ payload: [UInt8], at time: Double) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any] else {
            error = "unparsable chunk: \(String(decoding: payload.prefix(200), as: UTF8.self))"
            return
        }
        if let usage = object["usage"] as? [String: Any] {
            if let p = usage["prompt_tokens"] as? Int { reportedPromptTokens = p }
            if let c = usage["completion_tokens"] as? Int { reportedCompletionTokens = c }
        }
        guard let choice = (object["choices"] as? [[String: Any]])?.first else { return }
        // A server without a tokenizer (tern serve --skip-tokenizer-init) sends each chunk's token ids.
        if let ids = choice["token_ids"] as? [Any] {
            if !ids.isEmpty { record(ids.count, at: time) }
            return
        }
        let text: String?
        if backend == .openaiChat {
            let delta = choice["delta"] as? [String: Any] ?? [:]
            if delta["role"] != nil && (delta["content"] as? String ?? "").isEmpty { return }  // the opening role chunk
            text = delta["content"] as? String
        } else {
            text = choice["text"] as? String
        }
        let finished = !(choice["finish_reason"] is NSNull) && choice["finish_reason"] != nil
        if let text, !text.isEmpty {
            record(1 + heldBack, at: time)
            heldBack = 0
        } else if !finished {
            heldBack += 1
        }
    }
}
