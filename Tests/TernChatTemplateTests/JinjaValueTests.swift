import Foundation
import Testing
@testable import TernChatTemplate

struct JinjaValueTests {
    @Test func jsonParserKeepsObjectKeyOrder() throws {
        let value = try JinjaValue.parse(json: #"{"z": 1, "a": {"y": [true, null, 2.5], "b": "\u00e9\ud83d\ude80"}, "m": -3}"#)
        guard case .object(let o) = value, case .object(let inner)? = o["a"] else {
            Issue.record("expected objects")
            return
        }
        #expect(o.keys == ["z", "a", "m"])
        #expect(inner.keys == ["y", "b"])
        #expect(inner["b"] == "é🚀")
        #expect(o["m"] == .int(-3))
        #expect(try value.jsonString() == #"{"z": 1, "a": {"y": [true, null, 2.5], "b": "é🚀"}, "m": -3}"#)
    }

    @Test func jsonParserRejectsMalformedInput() {
        #expect(throws: JinjaValue.JSONParseError.self) { try JinjaValue.parse(json: #"{"a": }"#) }
        #expect(throws: JinjaValue.JSONParseError.self) { try JinjaValue.parse(json: "[1, 2") }
        #expect(throws: JinjaValue.JSONParseError.self) { try JinjaValue.parse(json: "1 2") }
        // Python would keep this integer exact; a Double would print it differently.
        #expect(throws: JinjaValue.JSONParseError.self) { try JinjaValue.parse(json: "[12345678901234567890]") }
    }

    @Test func foundationJSONValuesConvert() throws {
        let any = try JSONSerialization.jsonObject(with: Data(#"{"b": true, "i": 3, "d": 1.5, "s": "x", "n": null, "l": [1]}"#.utf8))
        let value = JinjaValue(json: any)
        guard case .object(let o) = value else {
            Issue.record("expected an object")
            return
        }
        #expect(o["b"].map { if case .bool(true) = $0 { true } else { false } } == true)
        #expect(o["i"].map { if case .int(3) = $0 { true } else { false } } == true)
        #expect(o["d"].map { if case .double(1.5) = $0 { true } else { false } } == true)
        #expect(o["s"] == "x")
        #expect(o["n"]?.isNone == true)
        #expect(o["l"] == [1])
    }

    @Test func pythonEqualityAcrossNumericKinds() {
        #expect(JinjaValue.int(1) == .double(1.0))
        #expect(JinjaValue.bool(true) == .int(1))
        #expect(JinjaValue.string("1") != .int(1))
        #expect(JinjaValue.object(JinjaObject([("a", 1), ("b", 2)])) == .object(JinjaObject([("b", 2), ("a", 1)])))
    }

    @Test func floatsPrintAsPythonRepr() {
        let cases: [(Double, String)] = [
            (1.0, "1.0"), (0.1, "0.1"), (1e16, "1e+16"), (1234567890123456.0, "1234567890123456.0"),
            (1e-5, "1e-05"), (0.0001, "0.0001"), (-2.5e-10, "-2.5e-10"), (123.456, "123.456"), (1e22, "1e+22"),
        ]
        for (value, text) in cases { #expect(PythonFormatting.floatRepr(value) == text, "\(value)") }
    }

    @Test func messagesAreNormalizedAsApplyChatTemplateDoes() throws {
        let template = try ChatTemplate(source: "{% for m in messages %}{{ m|tojson }}\n{% endfor %}{{ tools }}|{{ documents }}|{{ add_generation_prompt }}|{{ bos_token }}")
        let rendered = try template.render(
            messages: [["role": "assistant", "content": nil, "reasoning": "r", "tool_calls": [1]]],
            addGenerationPrompt: true, specialTokens: ["bos_token": "<s>"])
        #expect(rendered == #"{"thinking": "r", "role": "assistant", "reasoning": "r", "tool_calls": [1], "reasoning_content": "r"}"# + "\nNone|None|True|<s>")
    }

    @Test func extraKwargsOverrideSpecialTokens() throws {
        let template = try ChatTemplate(source: "{{ bos_token }}{{ enable_thinking }}")
        let rendered = try template.render(messages: [], addGenerationPrompt: false, specialTokens: ["bos_token": "<s>"],
                                           extra: ["bos_token": "<B>", "enable_thinking": false])
        #expect(rendered == "<B>False")
    }
}

struct StrftimeTests {
    @Test func strftimeNowFormatsLikePythonInTheCLocale() throws {
        // 2025-03-04 05:09:26 UTC; expected text from Python's datetime.strftime.
        let now = Date(timeIntervalSince1970: 1_741_064_966)
        let template = try ChatTemplate(source: "{{ strftime_now('%a %A %b %B %d %e %H %I %j %m %M %p %S %y %Y %F %T %%') }}")
        let rendered = try template.render([:], now: now, timeZone: TimeZone(identifier: "UTC")!)
        #expect(rendered == "Tue Tuesday Mar March 04  4 05 05 063 03 09 AM 26 25 2025 2025-03-04 05:09:26 %")
    }

    @Test func strftimeNowUsesTheGivenTimeZone() throws {
        let now = Date(timeIntervalSince1970: 1_741_064_966)
        let template = try ChatTemplate(source: "{{ strftime_now('%d %H:%M') }}")
        #expect(try template.render([:], now: now, timeZone: TimeZone(secondsFromGMT: -6 * 3600)!) == "03 23:09")
    }
}
