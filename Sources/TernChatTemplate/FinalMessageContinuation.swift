/// `continue_final_message`: transformers appends a marker to the last message's text, renders,
/// and cuts the prompt just before the marker, so the model continues that message instead of
/// starting a new one. Same marker, checks and cutting rules here.
struct FinalMessageContinuation {
    static let tag = "CONTINUE_FINAL_MESSAGE_TAG "
    static let reasoningFields = ["reasoning_content", "thinking", "reasoning"]

    /// The final message's text before tagging.
    let finalText: String

    init(tagging chat: inout [JinjaValue], field: String, templateSource: String) throws {
        guard case .object(var last)? = chat.last else {
            throw ChatTemplateError.invalidInput(message: "continue_final_message is set but the conversation is empty")
        }
        guard let value = last[field], !value.isNone else {
            throw ChatTemplateError.invalidInput(message: "continue_final_message is set but the final message has no \"\(field)\" to continue")
        }
        var fields = [field]
        if Self.reasoningFields.contains(field) {
            // Reasoning is copied under several names; tag each copy.
            fields = Self.reasoningFields.filter { last[$0] == value }
        }
        guard fields.contains(where: { ScalarString.contains(templateSource, $0) }) else {
            throw ChatTemplateError.invalidInput(message: "continue_final_message is set to \"\(field)\" but this is not an accepted field in the chat_template")
        }
        switch value {
        case .array(var blocks), .tuple(var blocks):
            // Content parts: continue the last text block.
            guard let i = blocks.lastIndex(where: { if case .object(let b) = $0 { b["text"] != nil } else { false } }),
                case .object(var block) = blocks[i], case .string(let text)? = block["text"]
            else {
                throw ChatTemplateError.invalidInput(message: "continue_final_message is set but we could not find any text to continue in the final message")
            }
            finalText = text
            block["text"] = .string(text + Self.tag)
            blocks[i] = .object(block)
            last[field] = .array(blocks)
        case .string(let text):
            finalText = text
            for f in fields {
                if case .string(let t)? = last[f] { last[f] = .string(t + Self.tag) }
            }
        default:
            throw ChatTemplateError.invalidInput(message: "continue_final_message needs text in \"\(field)\"")
        }
        chat[chat.count - 1] = .object(last)
    }

    func cut(_ rendered: String) throws -> String {
        let marker = ScalarString.strip(Self.tag, chars: nil, left: true, right: true)
        let expected = ScalarString.strip(finalText, chars: nil, left: true, right: true)
        guard ScalarString.contains(rendered, expected), ScalarString.contains(rendered, marker) else {
            throw ChatTemplateError.invalidInput(message: "continue_final_message is set but the final message does not appear in the chat after applying the chat template")
        }
        let bytes = Array(rendered.utf8)
        let markerBytes = Array(marker.utf8)
        let at = ScalarString.occurrences(of: markerBytes, in: bytes).last!
        let tagBytes = Array(Self.tag.utf8)
        let head = String(decoding: bytes[..<at], as: UTF8.self)
        if bytes.count >= at + tagBytes.count && Array(bytes[at..<at + tagBytes.count]) == tagBytes {
            return head
        }
        // The template trimmed the marker's trailing space; trim what precedes it too.
        return ScalarString.strip(head, chars: nil, left: false, right: true)
    }
}
