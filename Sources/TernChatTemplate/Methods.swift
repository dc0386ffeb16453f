/// Python methods templates call on values (`text.strip()`, `d.items()`, ...). Methods that would
/// mutate a value fail, as they do in transformers' ImmutableSandboxedEnvironment.
enum Methods {
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "upper", "lower", "title",
        "capitalize", "replace", "find", "rfind", "count", "join", "format", "isdigit", "isalpha", "isalnum",
        "isspace", "isupper", "islower", "splitlines", "removeprefix", "removesuffix", "index", "rindex",
    ]
    static let dictMethods: Set<String> = [
        "items", "keys", "values", "get", "copy", "pop", "update", "setdefault", "clear", "popitem",
    ]
    static let listMethods: Set<String> = [
        "index", "count", "copy", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear",
    ]
    private static let mutating: Set<String> = [
        "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "update", "setdefault", "popitem",
    ]

    static func call(_ name: String, on receiver: JinjaValue, _ args: EvaluatedArguments, renderer: Renderer) throws -> JinjaValue {
        if mutating.contains(name) {
            throw EvalFailure(message: "access to attribute '\(name)' of '\(receiver.pythonTypeName)' object is unsafe.")
        }
        switch receiver {
        case .string(let s): return try stringMethod(name, s, args)
        case .object(let o): return try dictMethod(name, o, args)
        case .array(let a), .tuple(let a):
            switch name {
            case "copy": return .array(a)
            case "count":
                let needle = args.value(0, "value") ?? .none
                return .int(a.filter { $0 == needle }.count)
            case "index":
                let needle = args.value(0, "value") ?? .none
                guard let i = a.firstIndex(where: { $0 == needle }) else {
                    throw EvalFailure(message: "\(PythonFormatting.repr(needle)) is not in list")
                }
                return .int(i)
            default: break
            }
        default: break
        }
        throw EvalFailure(message: "'\(receiver.pythonTypeName)' object has no attribute '\(name)'")
    }

    private static func stringArgument(_ v: JinjaValue?, _ method: String) throws -> String? {
        guard let v, !v.isNone else { return nil }
        guard case .string(let s) = v else {
            throw EvalFailure(message: "\(method) arg must be None or str")
        }
        return s
    }

    private static func intArgument(_ v: JinjaValue?, default d: Int) throws -> Int {
        guard let v else { return d }
        guard case .int(let i) = v.numericValue, !v.isDouble else {
            throw EvalFailure(message: "'\(v.pythonTypeName)' object cannot be interpreted as an integer")
        }
        return i
    }

    private static func stringMethod(_ name: String, _ s: String, _ args: EvaluatedArguments) throws -> JinjaValue {
        switch name {
        case "strip", "lstrip", "rstrip":
            let chars = try stringArgument(args.value(0, "chars"), name)
            return .string(ScalarString.strip(s, chars: chars, left: name != "rstrip", right: name != "lstrip"))
        case "split":
            let sep = try stringArgument(args.value(0, "sep"), name)
            if sep == "" { throw EvalFailure(message: "empty separator") }
            let maxSplit = try intArgument(args.value(1, "maxsplit"), default: -1)
            return .array(ScalarString.split(s, separator: sep, maxSplit: maxSplit).map { .string($0) })
        case "rsplit":
            let sep = try stringArgument(args.value(0, "sep"), name)
            let maxSplit = try intArgument(args.value(1, "maxsplit"), default: -1)
            guard let sep else {
                if maxSplit < 0 { return .array(ScalarString.split(s, separator: nil).map { .string($0) }) }
                throw EvalFailure(message: "rsplit on whitespace with maxsplit is not supported")
            }
            if sep.isEmpty { throw EvalFailure(message: "empty separator") }
            return .array(ScalarString.rsplit(s, separator: sep, maxSplit: maxSplit).map { .string($0) })
        case "startswith", "endswith":
            let test = name == "startswith" ? ScalarString.hasPrefix : ScalarString.hasSuffix
            switch args.value(0, "prefix") {
            case .string(let p)?: return .bool(test(s, p))
            case .tuple(let options)?, .array(let options)?:
                return .bool(options.contains { if case .string(let p) = $0 { return test(s, p) } else { return false } })
            default: throw EvalFailure(message: "\(name) first arg must be str or a tuple of str")
            }
        case "upper": return .string(s.uppercased())
        case "lower": return .string(s.lowercased())
        case "title": return .string(ScalarString.title(s))
        case "capitalize": return .string(ScalarString.capitalize(s))
        case "replace":
            guard case .string(let old)? = args.value(0, "old"), case .string(let new)? = args.value(1, "new") else {
                throw EvalFailure(message: "replace() arguments must be str")
            }
            return .string(ScalarString.replace(s, old, new, count: try intArgument(args.value(2, "count"), default: -1)))
        case "find", "rfind", "index", "rindex":
            guard case .string(let sub)? = args.value(0, "sub") else { throw EvalFailure(message: "\(name)() argument must be str") }
            let i = ScalarString.find(s, sub, reverse: name.hasPrefix("r"))
            if i < 0 && name.hasSuffix("index") { throw EvalFailure(message: "substring not found") }
            return .int(i)
        case "count":
            guard case .string(let sub)? = args.value(0, "sub") else { throw EvalFailure(message: "count() argument must be str") }
            if sub.isEmpty { return .int(s.unicodeScalars.count + 1) }
            return .int(ScalarString.occurrences(of: Array(sub.utf8), in: Array(s.utf8)).count)
        case "join":
            let items = try Filters.iterable(args.value(0, "iterable") ?? .none)
            var parts: [String] = []
            for item in items {
                guard case .string(let p) = item else {
                    throw EvalFailure(message: "sequence item \(parts.count): expected str instance, \(item.pythonTypeName) found")
                }
                parts.append(p)
            }
            return .string(parts.joined(separator: s))
        case "format": return .string(try format(s, args))
        case "isdigit": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType == .decimal || $0.properties.numericType == .digit })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isalnum": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.isPythonWhitespace })
        case "isupper": return .bool(s.contains { $0.isLetter } && s == s.uppercased())
        case "islower": return .bool(s.contains { $0.isLetter } && s == s.lowercased())
        case "splitlines":
            var lines = ScalarString.split(s.replacingNewlines(), separator: "\n")
            if lines.last == "" { lines.removeLast() }
            return .array(lines.map { .string($0) })
        case "removeprefix", "removesuffix":
            guard case .string(let p)? = args.value(0, "prefix") else { throw EvalFailure(message: "\(name)() argument must be str") }
            let scal = Array(s.unicodeScalars), n = p.unicodeScalars.count
            if name == "removeprefix" { return .string(ScalarString.hasPrefix(s, p) ? String(scalars: scal[n...]) : s) }
            return .string(ScalarString.hasSuffix(s, p) && n > 0 ? String(scalars: scal[..<(scal.count - n)]) : s)
        default:
            throw EvalFailure(message: "'str' object has no attribute '\(name)'")
        }
    }

    /// `str.format` with `{}`, `{0}` and `{name}` fields (no format specs).
    private static func format(_ s: String, _ args: EvaluatedArguments) throws -> String {
        var out = ""
        var auto = 0
        var chars = Array(s)
        var i = 0
        chars.append("\0")
        while i < chars.count - 1 {
            let c = chars[i]
            if c == "{" && chars[i + 1] == "{" { out += "{"; i += 2; continue }
            if c == "}" && chars[i + 1] == "}" { out += "}"; i += 2; continue }
            if c != "{" { out.append(c); i += 1; continue }
            guard let close = chars[i...].firstIndex(of: "}") else { throw EvalFailure(message: "Single '{' encountered in format string") }
            let field = String(chars[(i + 1)..<close])
            if field.contains(":") || field.contains("!") { throw EvalFailure(message: "format specs are not supported") }
            let value: JinjaValue?
            if field.isEmpty {
                value = auto < args.positional.count ? args.positional[auto] : nil
                auto += 1
            } else if let n = Int(field) {
                value = n < args.positional.count ? args.positional[n] : nil
            } else {
                value = args.keyword.first { $0.0 == field }?.1
            }
            guard let value else { throw EvalFailure(message: "Replacement index out of range for format string") }
            out += PythonFormatting.str(value)
            i = close + 1
        }
        return out
    }

    private static func dictMethod(_ name: String, _ o: JinjaObject, _ args: EvaluatedArguments) throws -> JinjaValue {
        switch name {
        case "items": return .array(o.pairs.map { .tuple([.string($0.0), $0.1]) })
        case "keys": return .array(o.keys.map { .string($0) })
        case "values": return .array(o.values)
        case "copy": return .object(o)
        case "get":
            let key = args.value(0, "key") ?? .none
            let fallback = args.value(1, "default") ?? .none
            if case .string(let k) = key, let v = o[k] { return v }
            return fallback
        default:
            throw EvalFailure(message: "'dict' object has no attribute '\(name)'")
        }
    }
}
