import Testing
import TernChatTemplate

/// A template that cannot be handled must fail with an error naming where, never render a wrong prompt.
struct ErrorReportingTests {
    private func syntaxError(_ source: String) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source: source)
            return nil
        } catch let e as ChatTemplateError {
            return e
        } catch {
            return nil
        }
    }

    private func renderError(_ source: String, _ context: [String: JinjaValue] = [:]) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source: source).render(context)
            return nil
        } catch let e as ChatTemplateError {
            return e
        } catch {
            return nil
        }
    }

    @Test func unknownTagNamesLineAndColumn() {
        let error = syntaxError("line one\n  text {% frobnicate x %}\n")
        #expect(error == .syntax(message: "unknown tag 'frobnicate'", line: 2, column: 11))
        #expect(error?.description.contains("line 2") == true)
    }

    @Test func unknownFilterFailsAtParseTimeWithItsLine() {
        let error = syntaxError("{{ 'a' }}\n\n{{ x | shout }}")
        #expect(error == .syntax(message: "no filter named 'shout'", line: 3, column: 8))
    }

    @Test func unknownTestFailsAtParseTime() {
        guard case .syntax(let message, let line, _)? = syntaxError("{% if x %}\n{% if x is purple %}{% endif %}{% endif %}") else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(message == "no test named 'purple'")
        #expect(line == 2)
    }

    @Test func unclosedBlockIsReported() {
        guard case .syntax(let message, let line, _)? = syntaxError("{% for m in messages %}\n{{ m }}\n") else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(message.contains("endfor"))
        #expect(line == 2)
    }

    @Test func unterminatedTagIsReported() {
        guard case .syntax(_, let line, _)? = syntaxError("ok\n{{ messages[0]\n") else {
            Issue.record("expected a syntax error")
            return
        }
        #expect(line == 2)
    }

    @Test func raiseExceptionCarriesMessageAndLine() {
        let source = "{% for m in messages %}\n{% if m.role == 'bad' %}\n{{ raise_exception('Role ' + m.role + ' is not supported') }}\n{% endif %}\n{% endfor %}"
        let error = renderError(source, ["messages": [["role": "user"], ["role": "bad"]]])
        #expect(error == .raised(message: "Role bad is not supported", line: 3))
    }

    @Test func typeErrorsNameTheirLine() {
        let error = renderError("a\nb\n{{ 'x' + n }}", ["n": 1])
        #expect(error == .render(message: "can only concatenate str (not \"int\") to str", line: 3))
    }

    @Test func undefinedInArithmeticFailsLikeJinja2() {
        #expect(renderError("{{ missing + 1 }}") == .render(message: "'missing' is undefined", line: 1))
        #expect(renderError("{{ m.content + 'x' }}", ["m": ["role": "user"]])
            == .render(message: "'dict object' has no attribute 'content'", line: 1))
    }

    @Test func mutatingMethodsAreRefusedAsInTheSandbox() {
        guard case .render(let message, _)? = renderError("{% set l = [] %}{{ l.append(1) }}") else {
            Issue.record("expected a render error")
            return
        }
        #expect(message.contains("unsafe"))
    }

    @Test func callingAnUnknownFunctionFails() {
        #expect(renderError("{{ frob(1) }}") == .render(message: "'frob' is undefined", line: 1))
    }
}

/// Constructs whose Python output this interpreter cannot reproduce fail instead of guessing.
struct UnsupportedConstructTests {
    @Test func nonStringDictKeysFail() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ {1: 'a'} }}").render([:]) }
    }

    @Test func integerLiteralsBeyond64BitsFail() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ 99999999999999999999 }}") }
    }

    @Test func templateInheritanceTagsFail() {
        for tag in ["{% extends 'base' %}", "{% include 'x' %}", "{% import 'm' as m %}", "{% block b %}{% endblock %}"] {
            #expect(throws: ChatTemplateError.self, "\(tag)") { try ChatTemplate(source: tag) }
        }
    }

    @Test func recursiveLoopsFail() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{% for x in y recursive %}{% endfor %}") }
    }
}

/// Runaway templates end with an error rather than a crash.
struct ResourceLimitTests {
    @Test func infinitelyRecursiveMacroFails() {
        #expect(throws: ChatTemplateError.self) {
            try ChatTemplate(source: "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").render([:])
        }
    }

    @Test func absurdlyNestedExpressionFailsToParse() {
        let source = "{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}"
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: source) }
    }

    @Test func hugeRangeIsRefusedAsInTheSandbox() {
        #expect(throws: ChatTemplateError.self) { try ChatTemplate(source: "{{ range(200000)|length }}").render([:]) }
    }
}

/// Markup values (from |safe or |e) support the operations whose jinja2 results are reproduced
/// exactly; the rest fail rather than silently dropping jinja2's escaping rules.
struct MarkupLimitTests {
    @Test func unsupportedOperationsOnMarkupFail() {
        for source in ["{{ ('a'|safe).upper() }}", "{{ ('a'|safe)|upper }}", "{{ ('ab'|safe)[0] }}", "{% for c in 'ab'|safe %}{% endfor %}"] {
            #expect(throws: ChatTemplateError.self, "\(source)") { try ChatTemplate(source: source).render([:]) }
        }
    }
}
