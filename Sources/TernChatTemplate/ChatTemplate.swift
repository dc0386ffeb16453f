import Foundation

/// A parsed Hugging Face chat template, rendered as transformers' `apply_chat_template` does
/// (jinja2 with trim_blocks and lstrip_blocks, `tojson` without HTML escaping,
/// `raise_exception` and `strftime_now` globals).
public struct ChatTemplate: Sendable {
    public let source: String
    private let nodes: [Node]

    /// Parses the template; syntax errors name the line and column.
    public init(source: String) throws {
        self.source = source
        self.nodes = try Parser.parse(source)
    }

    /// Renders with exactly the given variables. `now` and `timeZone` set what `strftime_now`
    /// prints (transformers uses the local time; tests pin it).
    public func render(_ context: [String: JinjaValue], now: Date = Date(), timeZone: TimeZone = .current) throws -> String {
        let renderer = Renderer(context: context)
        renderer.clock = (now, timeZone)
        return try renderer.render(nodes)
    }

    /// Renders a conversation the way `tokenizer.apply_chat_template(messages, tools=...,
    /// add_generation_prompt=..., tokenize=False, **extra)` does: message keys whose value is
    /// null are dropped, reasoning is aliased under `reasoning_content` and `thinking`,
    /// `tools` and `documents` are none when absent, special tokens are passed as variables and
    /// `extra` overrides them. `continueFinalMessage` names the field of the last message to
    /// leave open (usually "content"), as `continue_final_message=` does.
    public func render(
        messages: [JinjaValue], tools: [JinjaValue]? = nil, addGenerationPrompt: Bool,
        specialTokens: [String: String] = [:], extra: [String: JinjaValue] = [:],
        continueFinalMessage: String? = nil,
        now: Date = Date(), timeZone: TimeZone = .current
    ) throws -> String {
        var chat = try messages.map { message -> JinjaValue in
            guard case .object = message else {
                throw ChatTemplateError.invalidInput(message: "chat messages should be objects, got \(PythonFormatting.repr(message))")
            }
            return Self.normalizeMessage(message)
        }
        var continuation: FinalMessageContinuation? = nil
        if let field = continueFinalMessage {
            if addGenerationPrompt {
                throw ChatTemplateError.invalidInput(message: "continue_final_message and add_generation_prompt are not compatible")
            }
            continuation = try FinalMessageContinuation(tagging: &chat, field: field, templateSource: source)
        }
        var context: [String: JinjaValue] = [:]
        for (k, v) in specialTokens { context[k] = .string(v) }
        for (k, v) in extra { context[k] = v }
        context["messages"] = .array(chat)
        context["tools"] = tools.map { .array($0) } ?? JinjaValue.none
        context["documents"] = extra["documents"] ?? JinjaValue.none
        context["add_generation_prompt"] = .bool(addGenerationPrompt)
        let rendered = try render(context, now: now, timeZone: timeZone)
        return try continuation?.cut(rendered) ?? rendered
    }

    /// transformers drops null-valued keys, then copies the reasoning (from `reasoning_content`,
    /// `thinking` or `reasoning`) to `thinking` (first key) and `reasoning_content`.
    static func normalizeMessage(_ message: JinjaValue) -> JinjaValue {
        guard case .object(let o) = message else { return message }
        var kept = JinjaObject(o.pairs.filter { !$0.1.isNone })
        guard let reasoning = ["reasoning_content", "thinking", "reasoning"].lazy.compactMap({ kept[$0] }).first else {
            return .object(kept)
        }
        var aliased = JinjaObject([("thinking", reasoning)])
        for (k, v) in kept.pairs where k != "thinking" { aliased[k] = v }
        // `{"thinking": r, **message}` keeps the message's own "thinking" value in first position.
        if let own = kept["thinking"] { aliased["thinking"] = own }
        aliased["reasoning_content"] = reasoning
        kept = aliased
        return .object(kept)
    }
}
