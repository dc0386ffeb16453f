import Foundation

/// The chat template and special tokens of a Hugging Face model directory, found where
/// transformers looks: `chat_template.jinja` first, then `chat_template` in
/// `tokenizer_config.json` (a string, or a list of `{name, template}`), and the named special
/// tokens (`bos_token`, `eos_token`, ...; a string or an `{"content": ...}` object).
public struct ModelChatTemplate: Sendable {
    public var template: ChatTemplate
    /// A `tool_use` variant, when the config lists one; used when tools are given.
    public var toolUseTemplate: ChatTemplate?
    public var specialTokens: [String: String]

    public enum LoadError: Error, CustomStringConvertible {
        case noTemplate(String)
        case badConfig(String)

        public var description: String {
            switch self {
            case .noTemplate(let dir): return "no chat template in \(dir) (no chat_template.jinja, no chat_template in tokenizer_config.json)"
            case .badConfig(let m): return "bad tokenizer_config.json: \(m)"
            }
        }
    }

    static let specialTokenNames = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

    public init(template: ChatTemplate, toolUseTemplate: ChatTemplate? = nil, specialTokens: [String: String]) {
        self.template = template
        self.toolUseTemplate = toolUseTemplate
        self.specialTokens = specialTokens
    }

    public static func load(directory: URL) throws -> ModelChatTemplate {
        let fm = FileManager.default
        var config = JinjaObject()
        let configURL = directory.appendingPathComponent("tokenizer_config.json")
        if fm.fileExists(atPath: configURL.path) {
            guard case .object(let o) = try JinjaValue.parse(jsonData: try Data(contentsOf: configURL)) else {
                throw LoadError.badConfig("top level is not an object")
            }
            config = o
        }
        var specialTokens: [String: String] = [:]
        let mapURL = directory.appendingPathComponent("special_tokens_map.json")
        if fm.fileExists(atPath: mapURL.path), case .object(let map) = try JinjaValue.parse(jsonData: try Data(contentsOf: mapURL)) {
            for name in specialTokenNames { if let t = tokenText(map[name]) { specialTokens[name] = t } }
        }
        for name in specialTokenNames { if let t = tokenText(config[name]) { specialTokens[name] = t } }

        var source: String? = nil
        var toolUseSource: String? = nil
        let jinjaURL = directory.appendingPathComponent("chat_template.jinja")
        if fm.fileExists(atPath: jinjaURL.path) {
            source = try String(contentsOf: jinjaURL, encoding: .utf8)
        } else {
            switch config["chat_template"] {
            case .string(let s)?: source = s
            case .array(let entries)?:
                for entry in entries {
                    guard case .object(let e) = entry, case .string(let name)? = e["name"], case .string(let text)? = e["template"] else {
                        throw LoadError.badConfig("chat_template list entries need name and template")
                    }
                    if name == "default" { source = text }
                    if name == "tool_use" { toolUseSource = text }
                }
            default: break
            }
        }
        guard let source else { throw LoadError.noTemplate(directory.path) }
        return ModelChatTemplate(template: try ChatTemplate(source: source),
                                 toolUseTemplate: try toolUseSource.map { try ChatTemplate(source: $0) },
                                 specialTokens: specialTokens)
    }

    private static func tokenText(_ value: JinjaValue?) -> String? {
        switch value {
        case .string(let s)?: return s
        case .object(let o)?: if case .string(let s)? = o["content"] { return s }
        default: break
        }
        return nil
    }

    /// Renders as `apply_chat_template(messages, tools=tools, add_generation_prompt=..., **extra)`.
    public func render(messages: [JinjaValue], tools: [JinjaValue]? = nil, addGenerationPrompt: Bool,
                       extra: [String: JinjaValue] = [:], continueFinalMessage: String? = nil,
                       now: Date = Date()) throws -> String {
        let chosen = tools != nil ? (toolUseTemplate ?? template) : template
        return try chosen.render(messages: messages, tools: tools, addGenerationPrompt: addGenerationPrompt,
                                 specialTokens: specialTokens, extra: extra,
                                 continueFinalMessage: continueFinalMessage, now: now)
    }
}
