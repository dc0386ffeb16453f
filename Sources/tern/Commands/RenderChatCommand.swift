import ArgumentParser
import Foundation
import TernChatTemplate

/// `tern render-chat`: renders a conversation through a model's chat template and prints the
/// prompt exactly (no trailing newline), as `tokenizer.apply_chat_template(..., tokenize=False)`.
struct RenderChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "render-chat", abstract: "Render messages through a model's chat template.")

    @Option(help: "Model directory (chat_template.jinja or tokenizer_config.json).")
    var model: String

    @Option(help: "JSON file: an array of OpenAI-style messages.")
    var messages: String

    @Option(help: "JSON file: an array of tool definitions.")
    var tools: String?

    @Flag(help: "Append the assistant prompt.")
    var addGenerationPrompt = false

    @Option(help: "JSON object of extra template variables, e.g. '{\"enable_thinking\": false}'.")
    var templateKwargs: String?

    @Option(help: "Leave the last message open for continuation: the field to continue (usually content).")
    var continueFinalMessage: String?

    func run() throws {
        let chat = try ModelChatTemplate.load(directory: URL(fileURLWithPath: model))
        guard case .array(let messageList) = try JinjaValue.parse(jsonData: try Data(contentsOf: URL(fileURLWithPath: messages))) else {
            throw ValidationError("--messages must hold a JSON array")
        }
        var toolList: [JinjaValue]? = nil
        if let tools {
            guard case .array(let list) = try JinjaValue.parse(jsonData: try Data(contentsOf: URL(fileURLWithPath: tools))) else {
                throw ValidationError("--tools must hold a JSON array")
            }
            toolList = list
        }
        var extra: [String: JinjaValue] = [:]
        if let templateKwargs {
            guard case .object(let o) = try JinjaValue.parse(json: templateKwargs) else {
                throw ValidationError("--template-kwargs must be a JSON object")
            }
            extra = Dictionary(uniqueKeysWithValues: o.pairs)
        }
        let prompt = try chat.render(messages: messageList, tools: toolList, addGenerationPrompt: addGenerationPrompt,
                                     extra: extra, continueFinalMessage: continueFinalMessage)
        FileHandle.standardOutput.write(Data(prompt.utf8))
    }
}
