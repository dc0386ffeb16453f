/// jinja2's built-in tests (`x is defined`, `n is divisibleby 3`, ...).
enum TemplateTests {
    static let known: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable", "sequence",
        "boolean", "true", "false", "odd", "even", "divisibleby", "equalto", "eq", "==", "ne", "!=", "lt", "<",
        "lessthan", "le", "<=", "gt", ">", "greaterthan", "ge", ">=", "in", "sameas", "callable", "lower", "upper",
        "escaped", "filter", "test",
    ]

    static func apply(_ name: String, to value: JinjaValue, arguments args: EvaluatedArguments, renderer: Renderer) throws -> Bool {
        func argument() throws -> JinjaValue {
            guard let a = args.value(0, "other") ?? args.value(0, "num") ?? args.value(0, "seq") else {
                throw EvalFailure(message: "test '\(name)' needs an argument")
            }
            return a
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value.isNone
        case "string":
            if case .markup = value { return true }
            return value.isString
        case "number":
            if case .bool = value { return true }
            return value.numericValue != nil
        case "integer":
            if case .int = value { return true }
            return false
        case "float": return value.isDouble
        case "boolean", "true", "false":
            guard case .bool(let b) = value else { return false }
            return name == "boolean" || b == (name == "true")
        case "mapping":
            if case .object = value { return true }
            return false
        case "iterable":
            switch value {
            case .string, .markup, .array, .tuple, .object, .undefined, .namespace: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .string, .markup, .array, .tuple, .object, .undefined: return true
            default: return false
            }
        case "callable":
            if case .callable = value { return true }
            return false
        case "odd", "even":
            guard case .int(let i) = value.numericValue, !value.isDouble else {
                if case .undefined(let hint) = value { throw EvalFailure(message: hint) }
                throw EvalFailure(message: "test '\(name)' expects an integer")
            }
            return (i % 2 != 0) == (name == "odd")
        case "divisibleby":
            let n = try argument()
            guard case .int(let d) = n.numericValue, case .int(let i) = value.numericValue else {
                throw EvalFailure(message: "divisibleby expects integers")
            }
            guard d != 0 else { throw EvalFailure(message: "integer division or modulo by zero") }
            return i % d == 0
        case "equalto", "eq", "==": return value == (try argument())
        case "ne", "!=": return value != (try argument())
        case "lt", "<", "lessthan": return try Arithmetic.compare("<", value, try argument())
        case "le", "<=": return try Arithmetic.compare("<=", value, try argument())
        case "gt", ">", "greaterthan": return try Arithmetic.compare(">", value, try argument())
        case "ge", ">=": return try Arithmetic.compare(">=", value, try argument())
        case "in": return try Arithmetic.contains(try argument(), value)
        case "sameas":
            let other = try argument()
            switch (value, other) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.int(let a), .int(let b)): return a == b
            default: return false
            }
        case "lower", "upper":
            let s = PythonFormatting.str(value)
            guard s.contains(where: { $0.isLetter }) else { return false }
            return name == "lower" ? s == s.lowercased() : s == s.uppercased()
        case "escaped": return false
        case "filter": return Filters.known.contains(PythonFormatting.str(value))
        case "test": return known.contains(PythonFormatting.str(value))
        default: throw EvalFailure(message: "no test named '\(name)'")
        }
    }
}
