import Foundation
import TernChatTemplate

extension ModelService {
    /// Renders a chat request's messages through the model's chat template and tokenizes the result.
    /// The body is parsed again here with the template engine's JSON reader, which keeps object key
    /// order: templates print tools and arguments in the order the client sent them.
    func chatPromptIDs(body: some Collection<UInt8>, addGenerationPrompt: Bool) throws(APIError) -> [Int] {
        let tokenizer = try requireTokenizer(param: "messages")
        guard let template = chatTemplate else {
            throw .invalid("This model has no chat template; use /v1/completions.", param: "messages", code: "no_chat_template")
        }
        let root: JinjaValue
        do { root = try JinjaValue.parse(jsonData: Data(body)) } catch {
            throw .invalid("The request body is not valid JSON: \(error)", code: "invalid_json")
        }
        guard case .object(let object) = root, case .array(let messages)? = object["messages"] else {
            throw .invalid("'messages' is required.", param: "messages")
        }
        var tools: [JinjaValue]?
        if case .array(let list)? = object["tools"] { tools = list }
        var extra: [String: JinjaValue] = [:]
        if case .object(let kwargs)? = object["chat_template_kwargs"] {
            for (k, v) in kwargs.pairs { extra[k] = v }
        }
        let text: String
        do {
            text = try template.render(messages: messages.map(Self.flattenContent), tools: tools,
                                       addGenerationPrompt: addGenerationPrompt, specialTokens: specialTokenVariables, extra: extra)
        } catch {
            throw .invalid("The chat template failed on these messages: \(error)", param: "messages", code: "chat_template_error")
        }
        // The template writes BOS itself where the model wants it.
        return tokenizer.encode(text, addSpecialTokens: false)
    }

    /// bos_token, eos_token, ... as the template sees them (transformers passes the tokenizer's special tokens).
    var specialTokenVariables: [String: String] {
        var out: [String: String] = [:]
        guard let config = tokenizer?.config else { return out }
        if let t = config.bosToken { out["bos_token"] = t }
        if let t = config.eosToken { out["eos_token"] = t }
        if let t = config.padToken { out["pad_token"] = t }
        if let t = config.unkToken { out["unk_token"] = t }
        return out
    }

    /// Content given as parts (`[{"type": "text", "text": ...}]`) becomes one string, parts joined by
    /// newlines, as vLLM does for templates that expect string content.
    static func flattenContent(_ message: JinjaValue) -> JinjaValue {
        guard case .object(var o) = message, case .array(let parts)? = o["content"] else { return message }
        let texts: [String] = parts.compactMap { part in
            guard case .object(let p) = part else { return nil }
            if case .string(let t)? = p["text"] { return t }
            return nil
        }
        o["content"] = .string(texts.joined(separator: "\n"))
        return .object(o)
    }
}
