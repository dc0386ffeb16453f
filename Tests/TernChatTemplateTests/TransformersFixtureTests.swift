import Foundation
import Testing
import TernChatTemplate

/// Byte-for-byte agreement with transformers' apply_chat_template on real model templates.
struct TransformersFixtureTests {
    static let templates = ["llama3_1", "qwen3", "deepseek_v3", "deepseek_r1", "mistral_nemo"]

    @Test("renders every reference conversation exactly as transformers does", arguments: templates)
    func matchesTransformers(templateName: String) throws {
        let template = try ChatTemplate(source: try TestData.template(templateName))
        let cases = try TestData.fixtureCases().filter { $0["template"]?.stringValue == templateName }
        #expect(cases.count >= 20)
        for fixture in cases {
            let label = "\(templateName)/\(fixture["name"]?.stringValue ?? "?") agp=\(fixture["add_generation_prompt"]!)"
            guard case .array(let messages)? = fixture["messages"], case .object(let tokens)? = fixture["special_tokens"],
                case .object(let extra)? = fixture["extra"], case .bool(let agp)? = fixture["add_generation_prompt"]
            else {
                Issue.record("malformed fixture \(label)")
                continue
            }
            let tools: [JinjaValue]? = { if case .array(let t)? = fixture["tools"] { return t } else { return nil } }()
            let specialTokens = Dictionary(uniqueKeysWithValues: tokens.pairs.compactMap { k, v in v.stringValue.map { (k, $0) } })
            let extraValues = Dictionary(uniqueKeysWithValues: extra.pairs)
            let render = {
                try template.render(messages: messages, tools: tools, addGenerationPrompt: agp,
                                    specialTokens: specialTokens, extra: extraValues)
            }
            if let expected = fixture["expected"]?.stringValue {
                do {
                    let got = try render()
                    #expect(got == expected, "\(label)")
                } catch {
                    Issue.record("\(label): unexpected error \(error)")
                }
            } else {
                let reference = fixture["error"]?.stringValue ?? ""
                do {
                    let got = try render()
                    Issue.record("\(label): expected error \(reference), rendered \(got.debugDescription)")
                } catch let error as ChatTemplateError {
                    // Messages the template raises itself must carry through verbatim.
                    if reference.hasPrefix("TemplateError: ") {
                        #expect(error == .raised(message: String(reference.dropFirst("TemplateError: ".count)), line: error.line), "\(label)")
                    }
                }
            }
        }
    }
}
