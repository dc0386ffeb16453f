import Foundation

/// The JSON body of one streamed request for a backend.
enum RequestBody {
    static func make(_ prompt: BenchPrompt, backend: BenchBackend, model: String?, ignoreEOS: Bool) throws -> Data {
        var body: [String: Any] = ["stream": true]
        switch backend {
        case .tern:
            switch prompt.content {
            case .ids(let ids): body["input_ids"] = ids
            case .text(let text): body["text"] = text
            }
            body["sampling_params"] = ["max_new_tokens": prompt.outputTokens, "temperature": 0.0, "ignore_eos": ignoreEOS]
        case .openai, .openaiChat:
            if let model { body["model"] = model }
            body["max_tokens"] = prompt.outputTokens
            body["temperature"] = 0.0
            body["ignore_eos"] = ignoreEOS
            body["stream_options"] = ["include_usage": true]
            switch (backend, prompt.content) {
            case (.openaiChat, .text(let text)): body["messages"] = [["role": "user", "content": text]]
            case (.openaiChat, .ids): throw BenchError.badOption("openai-chat sends text: give --tokenizer and drop --random-send-ids")
            case (_, .ids(let ids)): body["prompt"] = ids
            case (_, .text(let text)): body["prompt"] = text
            }
        }
        return try JSONSerialization.data(withJSONObject: body)
    }
}
