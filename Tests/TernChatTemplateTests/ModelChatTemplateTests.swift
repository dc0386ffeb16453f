import Foundation
import Testing
import TernChatTemplate

/// Finding a model's template and special tokens the way transformers does.
struct ModelChatTemplateTests {
    private func makeModelDirectory(config: String, jinja: String? = nil) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tern-chat-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try config.write(to: dir.appendingPathComponent("tokenizer_config.json"), atomically: true, encoding: .utf8)
        if let jinja { try jinja.write(to: dir.appendingPathComponent("chat_template.jinja"), atomically: true, encoding: .utf8) }
        return dir
    }

    @Test func readsStringTemplateAndAddedTokenObjects() throws {
        let dir = try makeModelDirectory(config: #"""
            {"bos_token": {"__type": "AddedToken", "content": "<B>", "lstrip": false}, "eos_token": "<E>",
             "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}"}
            """#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let chat = try ModelChatTemplate.load(directory: dir)
        #expect(chat.specialTokens == ["bos_token": "<B>", "eos_token": "<E>"])
        #expect(try chat.render(messages: [["role": "user", "content": "hi"]], addGenerationPrompt: false) == "<B>hi<E>")
    }

    @Test func picksDefaultAndToolUseFromTemplateList() throws {
        let dir = try makeModelDirectory(config: #"""
            {"chat_template": [{"name": "default", "template": "plain"}, {"name": "tool_use", "template": "tools={{ tools|length }}"}]}
            """#)
        defer { try? FileManager.default.removeItem(at: dir) }
        let chat = try ModelChatTemplate.load(directory: dir)
        #expect(try chat.render(messages: [], addGenerationPrompt: false) == "plain")
        #expect(try chat.render(messages: [], tools: [["type": "function"]], addGenerationPrompt: false) == "tools=1")
    }

    @Test func chatTemplateFileTakesPriorityOverConfig() throws {
        let dir = try makeModelDirectory(config: #"{"chat_template": "from config"}"#, jinja: "from file\n")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try ModelChatTemplate.load(directory: dir).render(messages: [], addGenerationPrompt: true) == "from file")
    }

    @Test func missingTemplateIsAnError() throws {
        let dir = try makeModelDirectory(config: #"{"eos_token": "</s>"}"#)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: ModelChatTemplate.LoadError.self) { try ModelChatTemplate.load(directory: dir) }
    }
}
