import Foundation
import Testing
import TernChatTemplate

/// Byte-for-byte agreement with transformers' apply_chat_template on real model templates
/// (reference renders from scripts/chat_template/make_chat_fixtures.py).
struct TransformersFixtureTests {
    static let templates = ["llama3_1", "llama3_2", "qwen3", "deepseek_v3", "deepseek_r1", "mistral_nemo", "gpt_oss", "deepseek_v3_1", "qwen3_coder", "hermes3_tool_use"]

    struct Fixtures {
        var root: JinjaObject
        var cases: [JinjaObject]
        var now: Date
    }

    static func load() throws -> Fixtures {
        let data = try Data(contentsOf: TestData.directory.appendingPathComponent("chat_fixtures.json"))
        guard case .object(let root) = try JinjaValue.parse(jsonData: data), case .array(let cases)? = root["cases"],
            case .string(let nowText)? = root["now"]
        else { throw CocoaError(.fileReadCorruptFile) }
        // The generator's fixed naive datetime, rendered here as UTC wall clock.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        guard let now = formatter.date(from: nowText) else { throw CocoaError(.fileReadCorruptFile) }
        return Fixtures(root: root, cases: cases.compactMap { if case .object(let o) = $0 { return o } else { return nil } }, now: now)
    }

    @Test("renders every reference conversation exactly as transformers does", arguments: templates)
    func matchesTransformers(templateName: String) throws {
        let fixtures = try Self.load()
        let template = try ChatTemplate(source: try TestData.template(templateName))
        guard case .object(let conversations)? = fixtures.root["conversations"],
            case .object(let allTokens)? = fixtures.root["special_tokens"], case .object(let tokens)? = allTokens[templateName]
        else { throw CocoaError(.fileReadCorruptFile) }
        let specialTokens = Dictionary(uniqueKeysWithValues: tokens.pairs.compactMap { k, v in v.stringValue.map { (k, $0) } })
        let cases = fixtures.cases.filter { $0["template"]?.stringValue == templateName }
        #expect(cases.count >= 20)
        for fixture in cases {
            let conversationName = fixture["conversation"]?.stringValue ?? "?"
            guard case .object(let conversation)? = conversations[conversationName],
                case .array(let messages)? = conversation["messages"], case .object(let extra)? = fixture["extra"],
                case .bool(let agp)? = fixture["add_generation_prompt"]
            else {
                Issue.record("malformed fixture \(conversationName)")
                continue
            }
            let continuation = fixture["continue_final_message"]?.stringValue ?? "-"
            let label = "\(templateName)/\(conversationName) extra=\(extra.keys) agp=\(agp) continue=\(continuation)"
            let tools: [JinjaValue]? = { if case .array(let t)? = conversation["tools"] { return t } else { return nil } }()
            let render = {
                try template.render(messages: messages, tools: tools, addGenerationPrompt: agp, specialTokens: specialTokens,
                                    extra: Dictionary(uniqueKeysWithValues: extra.pairs),
                                    continueFinalMessage: fixture["continue_final_message"]?.stringValue, now: fixtures.now,
                                    timeZone: TimeZone(identifier: "UTC")!)
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
