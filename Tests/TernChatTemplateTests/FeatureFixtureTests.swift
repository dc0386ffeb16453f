import Foundation
import Testing
import TernChatTemplate

/// Small snippets, one language feature each, rendered by transformers' jinja2 environment
/// (scripts/chat_template/make_feature_fixtures.py). Output must match byte for byte; snippets
/// that raise there must throw here.
struct FeatureFixtureTests {
    static func load() throws -> (context: [String: JinjaValue], cases: [JinjaObject]) {
        let data = try Data(contentsOf: TestData.directory.appendingPathComponent("feature_fixtures.json"))
        guard case .object(let root) = try JinjaValue.parse(jsonData: data), case .object(let context)? = root["context"],
            case .array(let cases)? = root["cases"]
        else { throw CocoaError(.fileReadCorruptFile) }
        return (Dictionary(uniqueKeysWithValues: context.pairs),
                cases.compactMap { if case .object(let o) = $0 { return o } else { return nil } })
    }

    @Test func everySnippetMatchesJinja2() throws {
        let (context, cases) = try Self.load()
        #expect(cases.count > 100)
        for fixture in cases {
            let name = fixture["name"]?.stringValue ?? "?"
            let source = fixture["template"]?.stringValue ?? ""
            if let expected = fixture["expected"]?.stringValue {
                do {
                    let got = try ChatTemplate(source: source).render(context)
                    #expect(got == expected, "\(name)")
                } catch {
                    Issue.record("\(name): unexpected error \(error)")
                }
            } else {
                do {
                    let got = try ChatTemplate(source: source).render(context)
                    Issue.record("\(name): expected \(fixture["error"]?.stringValue ?? "an error"), rendered \(got.debugDescription)")
                } catch is ChatTemplateError {
                    // Expected: the reference raised too.
                }
            }
        }
    }
}
