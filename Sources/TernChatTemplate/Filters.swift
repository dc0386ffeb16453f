import Foundation

/// jinja2's built-in filters that chat templates use, plus transformers' `tojson`.
enum Filters {
    static let known: Set<String> = [
        "abs", "attr", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape", "first", "float", "format",
        "indent", "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min", "reject",
        "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "sort", "string", "sum",
        "title", "tojson", "trim", "unique", "upper", "wordcount",
    ]

    static func apply(_ name: String, to value: JinjaValue, arguments args: EvaluatedArguments, renderer: Renderer) throws -> JinjaValue {
        if case .markup(let text) = value {
            switch name {
            case "length", "count": return .int(text.unicodeScalars.count)
            case "tojson": return try tojson(.string(text), args)
            case "string", "safe", "escape", "e", "default", "d": return value
            default: throw EvalFailure(message: "filter '\(name)' on a Markup value (from |safe or |e) is not supported")
            }
        }
        switch name {
        case "default", "d":
            let fallback = args.value(0, "default_value") ?? .string("")
            let boolean = args.value(1, "boolean")?.isTruthy ?? false
            if value.isUndefined || (boolean && !value.isTruthy) { return fallback }
            return value
        case "length", "count":
            return .int(try length(value))
        case "first":
            return try iterable(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            return try iterable(value).last ?? .undefined("No last item, sequence was empty.")
        case "upper": return .string(PythonFormatting.str(value).uppercased())
        case "lower": return .string(PythonFormatting.str(value).lowercased())
        case "title": return .string(titleWords(PythonFormatting.str(value)))
        case "format":
            if !args.keyword.isEmpty { throw EvalFailure(message: "format with keyword arguments is not supported") }
            return .string(try PrintfFormat.format(PythonFormatting.str(value), args.positional))
        case "capitalize": return .string(ScalarString.capitalize(PythonFormatting.str(value)))
        case "trim":
            let chars: String? = { if case .string(let c)? = args.value(0, "chars") { return c } else { return nil } }()
            return .string(ScalarString.strip(PythonFormatting.str(value), chars: chars, left: true, right: true))
        case "string": return .string(PythonFormatting.str(value))
        case "safe": return .markup(PythonFormatting.str(value))
        case "escape", "e": return .markup(htmlEscape(PythonFormatting.str(value)))
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let o): return .array(o.pairs.map { .tuple([.string($0.0), $0.1]) })
            default: throw EvalFailure(message: "Can only get item pairs from a mapping.")
            }
        case "list": return .array(try iterable(value))
        case "join":
            var items = try iterable(value)
            if let attribute = args.value(1, "attribute"), !attribute.isNone {
                items = try items.map { try lookupPath($0, attribute, renderer) }
            }
            let separator = PythonFormatting.str(args.value(0, "d") ?? .string(""))
            return .string(items.map(PythonFormatting.str).joined(separator: separator))
        case "replace":
            let old = PythonFormatting.str(args.value(0, "old") ?? .string(""))
            let new = PythonFormatting.str(args.value(1, "new") ?? .string(""))
            var count = -1
            if case .int(let c)? = args.value(2, "count") { count = c }
            return .string(ScalarString.replace(PythonFormatting.str(value), old, new, count: count))
        case "int": return toInt(value, default: args.value(0, "default") ?? .int(0))
        case "float": return toFloat(value, default: args.value(0, "default") ?? .double(0))
        case "abs": return try abs(value)
        case "round": return try round(value, args)
        case "tojson": return try tojson(value, args)
        case "reverse":
            if case .string(let s) = value { return .string(String(scalars: s.unicodeScalars.reversed())) }
            return .array(try iterable(value).reversed())
        case "unique": return try unique(value, args, renderer)
        case "sort": return try sort(value, args, renderer)
        case "map": return try map(value, args, renderer)
        case "select", "reject": return try select(value, args, renderer, attribute: false, keep: name == "select")
        case "selectattr", "rejectattr": return try select(value, args, renderer, attribute: true, keep: name == "selectattr")
        case "indent": return .string(indent(PythonFormatting.str(value), args))
        case "wordcount":
            let words = PythonFormatting.str(value).unicodeScalars.split { !($0.properties.isAlphabetic || $0.properties.numericType != nil || $0 == "_") }
            return .int(words.count)
        case "center":
            let s = PythonFormatting.str(value)
            let width = { if case .int(let w)? = args.value(0, "width") { return w } else { return 80 } }()
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            // Python's str.center puts the extra space on the right when the padding is odd and the width odd... as CPython does.
            let pad = width - n
            let left = pad / 2 + (pad & width & 1)
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: pad - left))
        case "attr":
            return try renderer.attribute(of: value, PythonFormatting.str(args.value(0, "name") ?? .string("")))
        case "max", "min":
            let items = try iterable(value)
            guard var best = items.first else { return .undefined("No aggregated item, sequence was empty.") }
            for item in items.dropFirst() {
                let o = try Arithmetic.ordering(sortKey(item, caseSensitive: false), sortKey(best, caseSensitive: false))
                guard let o else { throw EvalFailure(message: "values are not orderable") }
                if (name == "max" && o > 0) || (name == "min" && o < 0) { best = item }
            }
            return best
        case "sum":
            var total = args.value(1, "start") ?? .int(0)
            for item in try iterable(value) {
                let v = try args.value(0, "attribute").map { try lookupPath(item, $0, renderer) } ?? item
                total = try Arithmetic.binary("+", total, v)
            }
            return total
        case "dictsort":
            guard case .object(let o) = value else { throw EvalFailure(message: "dictsort expects a mapping") }
            let byValue = { if case .string("value")? = args.value(1, "by") { return true } else { return false } }()
            let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
            let reverse = args.value(2, "reverse")?.isTruthy ?? false
            var pairs = o.pairs.map { JinjaValue.tuple([.string($0.0), $0.1]) }
            try stableSort(&pairs, reverse: reverse) { p in
                sortKey(p.sequenceElements![byValue ? 1 : 0], caseSensitive: caseSensitive)
            }
            return .array(pairs)
        default:
            throw EvalFailure(message: "no filter named '\(name)'")
        }
    }

    // MARK: - Helpers

    static func length(_ value: JinjaValue) throws -> Int {
        switch value {
        case .undefined: return 0
        case .string(let s): return s.unicodeScalars.count
        case .array(let a), .tuple(let a): return a.count
        case .object(let o): return o.count
        default: throw EvalFailure(message: "object of type '\(value.pythonTypeName)' has no len()")
        }
    }

    /// `list(value)`: elements, dict keys, string characters; undefined is empty.
    static func iterable(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let a), .tuple(let a): return a
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        default: throw EvalFailure(message: "'\(value.pythonTypeName)' object is not iterable")
        }
    }

    /// jinja2's `title`: a word starts after `-`, whitespace or an opening bracket; its first
    /// character is uppercased and the rest lowercased (unlike Python's `str.title`).
    static func titleWords(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s {
            let isBoundary = c == "-" || c == "(" || c == "{" || c == "[" || c == "<" || c.unicodeScalars.allSatisfy { $0.isPythonWhitespace }
            if isBoundary {
                out.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? String(c).uppercased() : String(c).lowercased()
                atWordStart = false
            }
        }
        return out
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Follows a dotted attribute path (`"function.name"`, `"0"`) as jinja2's attrgetter does.
    static func lookupPath(_ item: JinjaValue, _ path: JinjaValue, _ renderer: Renderer) throws -> JinjaValue {
        guard case .string(let p) = path else { return try renderer.item(of: item, path) }
        var current = item
        for part in p.split(separator: ".", omittingEmptySubsequences: false) {
            let key: JinjaValue = Int(part).map { .int($0) } ?? .string(String(part))
            current = try renderer.item(of: current, key)
        }
        return current
    }

    private static func toInt(_ value: JinjaValue, default fallback: JinjaValue) -> JinjaValue {
        switch value {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return d.isFinite ? .int(Int(d)) : fallback
        case .string(let s):
            let t = ScalarString.strip(s, chars: nil, left: true, right: true)
            let digits = t.replacingOccurrences(of: "_", with: "")
            if !t.hasPrefix("_"), !t.hasSuffix("_"), !t.contains("__"), let i = Int(digits) { return .int(i) }
            if let d = Double(t), d.isFinite { return .int(Int(d)) }
            return fallback
        default: return fallback
        }
    }

    private static func toFloat(_ value: JinjaValue, default fallback: JinjaValue) -> JinjaValue {
        switch value {
        case .int(let i): return .double(Double(i))
        case .bool(let b): return .double(b ? 1 : 0)
        case .double: return value
        case .string(let s):
            let t = ScalarString.strip(s, chars: nil, left: true, right: true).lowercased()
            if let d = Double(t) { return .double(d) }
            return fallback
        default: return fallback
        }
    }

    private static func abs(_ value: JinjaValue) throws -> JinjaValue {
        switch value.numericValue {
        case .int(let i)?: return .int(Swift.abs(i))
        case .double(let d)?: return .double(Swift.abs(d))
        case nil: throw EvalFailure(message: "bad operand type for abs(): '\(value.pythonTypeName)'")
        }
    }

    private static func round(_ value: JinjaValue, _ args: EvaluatedArguments) throws -> JinjaValue {
        var precision = 0
        if case .int(let p)? = args.value(0, "precision") { precision = p }
        let method = PythonFormatting.str(args.value(1, "method") ?? .string("common"))
        guard let number = value.numericValue else {
            throw EvalFailure(message: "type \(value.pythonTypeName) doesn't define __round__ method")
        }
        let scale = pow(10.0, Double(precision))
        switch method {
        case "common":
            if case .int(let i) = number, !value.isDouble, precision >= 0 { return .int(i) }
            if precision < 0 {
                let unit = pow(10.0, Double(-precision))
                let rounded = (number.asDouble / unit).rounded(.toNearestOrEven) * unit
                if case .int = number, !value.isDouble { return .int(Int(rounded)) }
                return .double(rounded)
            }
            // Python's round() is correctly rounded half-to-even on the exact binary value; printf does the same.
            let text = String(format: "%.\(max(0, precision))f", number.asDouble)
            return .double(Double(text) ?? number.asDouble)
        case "ceil": return .double((number.asDouble * scale).rounded(.up) / scale)
        case "floor": return .double((number.asDouble * scale).rounded(.down) / scale)
        default: throw EvalFailure(message: "method must be common, ceil or floor")
        }
    }

    /// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    private static func tojson(_ value: JinjaValue, _ args: EvaluatedArguments) throws -> JinjaValue {
        let ensureASCII = args.value(0, "ensure_ascii")?.isTruthy ?? false
        var indent: Int? = nil
        switch args.value(1, "indent") {
        case .int(let i)?: indent = i
        case .none?, nil: indent = nil
        case let other?: throw EvalFailure(message: "unsupported tojson indent \(PythonFormatting.repr(other))")
        }
        var separators: (String, String)? = nil
        if let s = args.value(2, "separators"), !s.isNone {
            guard let parts = s.sequenceElements, parts.count == 2, case .string(let a) = parts[0], case .string(let b) = parts[1] else {
                throw EvalFailure(message: "tojson separators must be a pair of strings")
            }
            separators = (a, b)
        }
        let sortKeys = args.value(3, "sort_keys")?.isTruthy ?? false
        var text = try PythonJSONEncoder(indent: indent, separators: separators, sortKeys: sortKeys).encode(value)
        if ensureASCII { text = asciiEscaped(text) }
        return .string(text)
    }

    private static func asciiEscaped(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.value < 0x80 { out.unicodeScalars.append(c); continue }
            for unit in String(c).utf16 { out += "\\u" + PythonFormatting.hex(UInt32(unit), width: 4) }
        }
        return out
    }

    /// Key for case-insensitive comparisons as jinja2's `ignore_case`.
    private static func sortKey(_ v: JinjaValue, caseSensitive: Bool) -> JinjaValue {
        if !caseSensitive, case .string(let s) = v { return .string(s.lowercased()) }
        return v
    }

    private static func stableSort(_ items: inout [JinjaValue], reverse: Bool, key: (JinjaValue) throws -> JinjaValue) throws {
        let keyed = try items.enumerated().map { ($0.offset, try key($0.element), $0.element) }
        var failure: Error? = nil
        let sorted = keyed.sorted { a, b in
            do {
                guard let o = try Arithmetic.ordering(a.1, b.1) else {
                    throw EvalFailure(message: "'<' not supported between instances of '\(a.1.pythonTypeName)' and '\(b.1.pythonTypeName)'")
                }
                if o != 0 { return reverse ? o > 0 : o < 0 }
            } catch {
                failure = error
            }
            return a.0 < b.0
        }
        if let failure { throw failure }
        items = sorted.map { $0.2 }
    }

    private static func sort(_ value: JinjaValue, _ args: EvaluatedArguments, _ renderer: Renderer) throws -> JinjaValue {
        var items = try iterable(value)
        let reverse = args.value(0, "reverse")?.isTruthy ?? false
        let caseSensitive = args.value(1, "case_sensitive")?.isTruthy ?? false
        let attribute = args.value(2, "attribute")
        try stableSort(&items, reverse: reverse) { item in
            let v = try attribute.map { try lookupPath(item, $0, renderer) } ?? item
            return sortKey(v, caseSensitive: caseSensitive)
        }
        return .array(items)
    }

    private static func unique(_ value: JinjaValue, _ args: EvaluatedArguments, _ renderer: Renderer) throws -> JinjaValue {
        let caseSensitive = args.value(0, "case_sensitive")?.isTruthy ?? false
        let attribute = args.value(1, "attribute")
        var seen: [JinjaValue] = []
        var out: [JinjaValue] = []
        for item in try iterable(value) {
            let key = sortKey(try attribute.map { try lookupPath(item, $0, renderer) } ?? item, caseSensitive: caseSensitive)
            if !seen.contains(key) {
                seen.append(key)
                out.append(item)
            }
        }
        return .array(out)
    }

    private static func map(_ value: JinjaValue, _ args: EvaluatedArguments, _ renderer: Renderer) throws -> JinjaValue {
        let items = try iterable(value)
        if let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = args.keyword.first { $0.0 == "default" }?.1
            return .array(try items.map { item in
                let v = try lookupPath(item, attribute, renderer)
                if v.isUndefined, let fallback { return fallback }
                return v
            })
        }
        guard case .string(let filter)? = args.positional.first else {
            throw EvalFailure(message: "map requires a filter name or attribute=")
        }
        guard known.contains(filter) else { throw EvalFailure(message: "no filter named '\(filter)'") }
        let rest = EvaluatedArguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return .array(try items.map { try apply(filter, to: $0, arguments: rest, renderer: renderer) })
    }

    private static func select(_ value: JinjaValue, _ args: EvaluatedArguments, _ renderer: Renderer, attribute: Bool, keep: Bool) throws -> JinjaValue {
        var positional = args.positional
        var path: JinjaValue? = nil
        if attribute {
            guard !positional.isEmpty else { throw EvalFailure(message: "selectattr requires an attribute name") }
            path = positional.removeFirst()
        }
        var testName: String? = nil
        if !positional.isEmpty {
            guard case .string(let t) = positional.removeFirst() else { throw EvalFailure(message: "test name must be a string") }
            guard TemplateTests.known.contains(t) else { throw EvalFailure(message: "no test named '\(t)'") }
            testName = t
        }
        let testArgs = EvaluatedArguments(positional: positional, keyword: args.keyword)
        var out: [JinjaValue] = []
        for item in try iterable(value) {
            let subject = try path.map { try lookupPath(item, $0, renderer) } ?? item
            let passed = try testName.map { try TemplateTests.apply($0, to: subject, arguments: testArgs, renderer: renderer) }
                ?? subject.isTruthy
            if passed == keep { out.append(item) }
        }
        return .array(out)
    }

    /// jinja2 3.1's indent: appends a newline, splits lines, indents all but the first (unless
    /// `first`) and skips blank lines (unless `blank`).
    private static func indent(_ s: String, _ args: EvaluatedArguments) -> String {
        let width: String
        switch args.value(0, "width") {
        case .string(let w)?: width = w
        case .int(let n)?: width = String(repeating: " ", count: n)
        default: width = "    "
        }
        let first = args.value(1, "first")?.isTruthy ?? false
        let blank = args.value(2, "blank")?.isTruthy ?? false
        var lines = ScalarString.split((s + "\n").replacingNewlines(), separator: "\n")
        if lines.last == "" { lines.removeLast() }
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + width)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : width + $0 }.joined(separator: "\n")
            }
        }
        if first { result = width + result }
        return result
    }
}
