import Foundation

/// Python's arithmetic and comparison operators on template values, with Python's error words.
enum Arithmetic {
    private static func failUndefined(_ values: JinjaValue...) throws {
        for v in values {
            if case .undefined(let hint) = v { throw EvalFailure(message: hint) }
        }
    }

    private static func unsupported(_ op: String, _ a: JinjaValue, _ b: JinjaValue) -> EvalFailure {
        EvalFailure(message: "unsupported operand type(s) for \(op): '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
    }

    static func unary(_ op: String, _ v: JinjaValue) throws -> JinjaValue {
        try failUndefined(v)
        switch v.numericValue {
        case .int(let i)?: return op == "-" ? .int(-i) : .int(i)
        case .double(let d)?: return op == "-" ? .double(-d) : .double(d)
        case nil: throw EvalFailure(message: "bad operand type for unary \(op): '\(v.pythonTypeName)'")
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        try failUndefined(a, b)
        if let x = a.numericValue, let y = b.numericValue { return try numeric(op, x, y) }
        if case .markup = a { return try markupBinary(op, a, b) }
        if case .markup = b { return try markupBinary(op, a, b) }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)): return .string(x + y)
        case ("+", .array(let x), .array(let y)): return .array(x + y)
        case ("+", .tuple(let x), .tuple(let y)): return .tuple(x + y)
        case ("+", .string, _): throw EvalFailure(message: "can only concatenate str (not \"\(b.pythonTypeName)\") to str")
        case ("+", .array, _): throw EvalFailure(message: "can only concatenate list (not \"\(b.pythonTypeName)\") to list")
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard case .int(let n) = (a.isString ? b : a).numericValue, !(a.isString ? b : a).isDouble else { break }
            return .string(String(repeating: s, count: max(0, n)))
        case ("*", .array(let items), _), ("*", _, .array(let items)):
            guard case .int(let n) = (a.sequenceElements != nil ? b : a).numericValue else { break }
            return .array(Array([[JinjaValue]](repeating: items, count: max(0, n)).joined()))
        default: break
        }
        throw unsupported(op, a, b)
    }

    /// Markup arithmetic: `+` escapes the plain-string side, `*` repeats.
    private static func markupBinary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
        switch (op, a, b) {
        case ("+", .markup(let x), .markup(let y)): return .markup(x + y)
        case ("+", .markup(let x), .string(let y)): return .markup(x + Filters.htmlEscape(y))
        case ("+", .string(let x), .markup(let y)): return .markup(Filters.htmlEscape(x) + y)
        case ("*", .markup(let s), _), ("*", _, .markup(let s)):
            let count = a.numericValue ?? b.numericValue
            guard case .int(let n)? = count, !a.isDouble, !b.isDouble else { break }
            return .markup(String(repeating: s, count: max(0, n)))
        default: break
        }
        throw unsupported(op, a, b)
    }

    private static func numeric(_ op: String, _ x: PyNumber, _ y: PyNumber) throws -> JinjaValue {
        if case .int(let i) = x, case .int(let j) = y {
            switch op {
            case "+": return try checked(i.addingReportingOverflow(j))
            case "-": return try checked(i.subtractingReportingOverflow(j))
            case "*": return try checked(i.multipliedReportingOverflow(by: j))
            case "/":
                guard j != 0 else { throw EvalFailure(message: "division by zero") }
                return .double(Double(i) / Double(j))
            case "//":
                guard j != 0 else { throw EvalFailure(message: "integer division or modulo by zero") }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }
                return .int(q)
            case "%":
                guard j != 0 else { throw EvalFailure(message: "integer division or modulo by zero") }
                var r = i % j
                if r != 0 && ((r < 0) != (j < 0)) { r += j }
                return .int(r)
            case "**":
                if j >= 0 {
                    var result = 1
                    for _ in 0..<j {
                        let (p, o) = result.multipliedReportingOverflow(by: i)
                        if o { throw EvalFailure(message: "integer overflow") }
                        result = p
                    }
                    return .int(result)
                }
                return .double(pow(Double(i), Double(j)))
            default: break
            }
        }
        let a = x.asDouble
        let b = y.asDouble
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/":
            guard b != 0 else { throw EvalFailure(message: "float division by zero") }
            return .double(a / b)
        case "//":
            guard b != 0 else { throw EvalFailure(message: "float floor division by zero") }
            return .double((a / b).rounded(.down))
        case "%":
            guard b != 0 else { throw EvalFailure(message: "float modulo") }
            var r = fmod(a, b)
            if r != 0 && ((r < 0) != (b < 0)) { r += b }
            return .double(r)
        case "**": return .double(pow(a, b))
        default: throw EvalFailure(message: "unknown operator \(op)")
        }
    }

    private static func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
        if r.overflow { throw EvalFailure(message: "integer overflow") }
        return .int(r.partialValue)
    }

    static func compare(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case "==": return a == b
        case "!=": return a != b
        case "in": return try contains(b, a)
        case "notin": return !(try contains(b, a))
        default:
            try failUndefined(a, b)
            guard let order = try ordering(a, b) else {
                throw EvalFailure(message: "'\(op)' not supported between instances of '\(a.pythonTypeName)' and '\(b.pythonTypeName)'")
            }
            switch op {
            case "<": return order < 0
            case ">": return order > 0
            case "<=": return order <= 0
            default: return order >= 0
            }
        }
    }

    /// -1, 0, 1 for Python-orderable pairs; nil when Python would raise TypeError.
    static func ordering(_ a: JinjaValue, _ b: JinjaValue) throws -> Int? {
        if let x = a.numericValue, let y = b.numericValue {
            if case .int(let i) = x, case .int(let j) = y { return i < j ? -1 : (i > j ? 1 : 0) }
            let (p, q) = (x.asDouble, y.asDouble)
            return p < q ? -1 : (p > q ? 1 : 0)
        }
        switch (a.textForComparison, b.textForComparison) {
        case (let x?, let y?):
            // Python orders strings by code point.
            for (p, q) in zip(x.unicodeScalars, y.unicodeScalars) where p != q { return p.value < q.value ? -1 : 1 }
            let (m, n) = (x.unicodeScalars.count, y.unicodeScalars.count)
            return m < n ? -1 : (m > n ? 1 : 0)
        default: break
        }
        switch (a, b) {
        case (.array(let x), .array(let y)), (.tuple(let x), .tuple(let y)):
            for (p, q) in zip(x, y) where p != q {
                guard let o = try ordering(p, q) else { return nil }
                return o
            }
            return x.count < y.count ? -1 : (x.count > y.count ? 1 : 0)
        default:
            return nil
        }
    }

    /// Python's `needle in container`.
    static func contains(_ container: JinjaValue, _ needle: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s), .markup(let s):
            guard let n = needle.textForComparison else {
                if case .undefined(let hint) = needle { throw EvalFailure(message: hint) }
                throw EvalFailure(message: "'in <string>' requires string as left operand, not \(needle.pythonTypeName)")
            }
            return ScalarString.contains(s, n)
        case .array(let items), .tuple(let items):
            return items.contains { $0 == needle }
        case .object(let o):
            if case .string(let k) = needle { return o[k] != nil }
            return false
        case .undefined:
            return false
        default:
            throw EvalFailure(message: "argument of type '\(container.pythonTypeName)' is not iterable")
        }
    }
}

extension JinjaValue {
    /// The text of a string or Markup value.
    var textForComparison: String? {
        switch self {
        case .string(let s), .markup(let s): return s
        default: return nil
        }
    }

    var isString: Bool {
        if case .string = self { return true }
        return false
    }
}
