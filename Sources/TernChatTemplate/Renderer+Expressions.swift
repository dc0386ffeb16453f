/// Expression evaluation with Python's operator semantics and jinja2's attribute/item lookup.
extension Renderer {
    func evaluate(_ expr: Expr) throws -> JinjaValue {
        switch expr {
        case .literal(let v): return v
        case .name(let n, _): return lookup(n)
        case .list(let items): return .array(try items.map(evaluate))
        case .tuple(let items): return .tuple(try items.map(evaluate))
        case .dict(let pairs):
            var o = JinjaObject()
            for (k, v) in pairs {
                // Only string keys are representable; others would print differently from Python.
                guard case .string(let key) = try evaluate(k) else {
                    throw EvalFailure(message: "dict keys other than strings are not supported")
                }
                o[key] = try evaluate(v)
            }
            return .object(o)
        case .attribute(let target, let name):
            return try attribute(of: try evaluate(target), name)
        case .item(let target, let key):
            return try item(of: try evaluate(target), try evaluate(key))
        case .slice(let target, let start, let stop, let step):
            return try slice(try evaluate(target), start: try start.map(evaluate), stop: try stop.map(evaluate),
                             step: try step.map(evaluate))
        case .call(let callee, let args):
            return try call(try evaluate(callee), try evaluate(args))
        case .filter(let target, let name, let args, let l):
            let value = try evaluate(target)
            let arguments = try evaluate(args)
            line = l
            return try Filters.apply(name, to: value, arguments: arguments, renderer: self)
        case .test(let target, let name, let args, let negated, let l):
            let value = try evaluate(target)
            let arguments = try evaluate(args)
            line = l
            let result = try TemplateTests.apply(name, to: value, arguments: arguments, renderer: self)
            return .bool(result != negated)
        case .unary(let op, let operand):
            return try Arithmetic.unary(op, try evaluate(operand))
        case .binary(let op, let l, let r):
            return try Arithmetic.binary(op, try evaluate(l), try evaluate(r))
        case .compare(let first, let ops):
            var left = try evaluate(first)
            for (op, rightExpr) in ops {
                let right = try evaluate(rightExpr)
                guard try Arithmetic.compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .and(let l, let r):
            let left = try evaluate(l)
            return left.isTruthy ? try evaluate(r) : left
        case .or(let l, let r):
            let left = try evaluate(l)
            return left.isTruthy ? left : try evaluate(r)
        case .not(let e):
            return .bool(!(try evaluate(e).isTruthy))
        case .conditional(let then, let test, let otherwise):
            if try evaluate(test).isTruthy { return try evaluate(then) }
            return try otherwise.map(evaluate) ?? .undefined("the inline if-expression evaluated to false and no else section was defined")
        case .concat(let parts):
            return .string(try parts.map { PythonFormatting.str(try evaluate($0)) }.joined())
        }
    }

    func evaluate(_ args: CallArguments) throws -> EvaluatedArguments {
        EvaluatedArguments(positional: try args.positional.map(evaluate),
                           keyword: try args.keyword.map { ($0.0, try evaluate($0.1)) })
    }

    // MARK: - Lookup

    /// `obj.name`: Python attributes first (methods), then items, as jinja2's sandbox getattr does.
    func attribute(of value: JinjaValue, _ name: String) throws -> JinjaValue {
        switch value {
        case .markup:
            throw EvalFailure(message: "attribute '\(name)' of a Markup value (from |safe or |e) is not supported")
        case .undefined(let hint):
            throw EvalFailure(message: hint)
        case .object(let o):
            if Methods.dictMethods.contains(name) { return .callable(.method(value, name)) }
            return o[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .namespace(let id):
            return namespaces[id][name] ?? .undefined("'Namespace object' has no attribute '\(name)'")
        case .string:
            if Methods.stringMethods.contains(name) { return .callable(.method(value, name)) }
        case .array:
            if Methods.listMethods.contains(name) { return .callable(.method(value, name)) }
        default:
            break
        }
        return .undefined("'\(value.pythonTypeName) object' has no attribute '\(name)'")
    }

    /// `obj[key]`: items first, then attributes for string keys; misses give undefined.
    func item(of value: JinjaValue, _ key: JinjaValue) throws -> JinjaValue {
        switch value {
        case .markup:
            throw EvalFailure(message: "indexing a Markup value (from |safe or |e) is not supported")
        case .undefined(let hint):
            throw EvalFailure(message: hint)
        case .array(let a), .tuple(let a):
            if case .int(let i) = key.numericValue, !key.isDouble {
                let index = i < 0 ? a.count + i : i
                if index >= 0 && index < a.count { return a[index] }
                return .undefined("list object has no element \(i)")
            }
        case .string(let s):
            if case .int(let i) = key.numericValue, !key.isDouble {
                let scalars = Array(s.unicodeScalars)
                let index = i < 0 ? scalars.count + i : i
                if index >= 0 && index < scalars.count { return .string(String(scalars[index])) }
                return .undefined("str object has no element \(i)")
            }
        case .object(let o):
            if case .string(let k) = key, let v = o[k] { return v }
            if case .string = key {} else {
                return .undefined("'dict object' has no attribute '\(PythonFormatting.str(key))'")
            }
        default:
            break
        }
        if case .string(let k) = key { return try attribute(of: value, k) }
        return .undefined("'\(value.pythonTypeName) object' has no element \(PythonFormatting.repr(key))")
    }

    func slice(_ value: JinjaValue, start: JinjaValue?, stop: JinjaValue?, step: JinjaValue?) throws -> JinjaValue {
        if case .undefined(let hint) = value { throw EvalFailure(message: hint) }
        if case .markup = value { throw EvalFailure(message: "slicing a Markup value (from |safe or |e) is not supported") }
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, !v.isNone else { return nil }
            guard case .int(let i) = v.numericValue, !v.isDouble else {
                throw EvalFailure(message: "slice indices must be integers or None")
            }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw EvalFailure(message: "slice step cannot be zero") }
        func indices(count: Int) throws -> [Int] {
            var lo = try bound(start)
            var hi = try bound(stop)
            if stepValue > 0 {
                lo = lo.map { $0 < 0 ? max(0, count + $0) : min($0, count) } ?? 0
                hi = hi.map { $0 < 0 ? max(0, count + $0) : min($0, count) } ?? count
                return Array(stride(from: lo!, to: hi!, by: stepValue))
            }
            lo = lo.map { $0 < 0 ? max(-1, count + $0) : min($0, count - 1) } ?? count - 1
            hi = hi.map { $0 < 0 ? max(-1, count + $0) : min($0, count - 1) } ?? -1
            return Array(stride(from: lo!, to: hi!, by: stepValue))
        }
        switch value {
        case .array(let a): return .array(try indices(count: a.count).map { a[$0] })
        case .tuple(let a): return .tuple(try indices(count: a.count).map { a[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            return .string(String(scalars: try indices(count: scalars.count).map { scalars[$0] }))
        default:
            return .undefined("'\(value.pythonTypeName) object' is not subscriptable")
        }
    }

    // MARK: - Calls

    func call(_ callee: JinjaValue, _ args: EvaluatedArguments) throws -> JinjaValue {
        switch callee {
        case .callable(.global(let name)):
            return try Globals.call(name, args, renderer: self)
        case .callable(.method(let receiver, let name)):
            return try Methods.call(name, on: receiver, args, renderer: self)
        case .callable(.macro(let id)):
            return try callMacro(id, args.positional, args.keyword)
        case .callable(.loopCycle(let index)):
            guard !args.positional.isEmpty else { throw EvalFailure(message: "no items for cycling given") }
            return args.positional[index % args.positional.count]
        case .undefined(let hint):
            throw EvalFailure(message: hint)
        default:
            throw EvalFailure(message: "'\(callee.pythonTypeName)' object is not callable")
        }
    }
}

/// Arguments after evaluation, as filters, tests, globals and methods receive them.
struct EvaluatedArguments {
    var positional: [JinjaValue] = []
    var keyword: [(String, JinjaValue)] = []

    /// The argument at `position` or named `name`, if given.
    func value(_ position: Int, _ name: String) -> JinjaValue? {
        if position < positional.count { return positional[position] }
        return keyword.first { $0.0 == name }?.1
    }
}

extension JinjaValue {
    var isDouble: Bool {
        if case .double = self { return true }
        return false
    }
}
