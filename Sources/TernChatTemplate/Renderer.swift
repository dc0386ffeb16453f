/// Walks the parsed template for one render call. Holds everything that lives only during that
/// call: the scope stack, namespace objects, macros and the output buffer.
///
/// Scoping follows jinja2: `set` writes the innermost scope; every loop iteration gets a fresh
/// scope (so assignments in a loop body vanish after the iteration), `if` blocks get none.
import Foundation

final class Renderer {
    /// Innermost scope last. scopes[0] holds the caller's context and top-level assignments.
    var scopes: [[String: JinjaValue]]
    var namespaces: [JinjaObject] = []
    var macros: [MacroRuntime] = []
    var output = ""
    /// The template line of the statement being run, for error messages.
    var line = 1
    /// Macro calls in progress; bounded so a runaway recursive macro fails instead of overflowing the stack.
    var macroDepth = 0
    static let maxMacroDepth = 200
    /// What `strftime_now` formats.
    var clock: (now: Date, timeZone: TimeZone) = (Date(), .current)

    struct MacroRuntime {
        var definition: MacroDefinition
        /// Scopes (other than the root) visible where the macro or call block was defined.
        var capturedScopes: [[String: JinjaValue]]
        /// For macros invoked from `{% call %}`: the caller macro's id.
        var isCaller: Bool
    }

    enum Flow {
        case normal, breakLoop, continueLoop
    }

    init(context: [String: JinjaValue]) {
        scopes = [context]
    }

    func render(_ nodes: [Node]) throws -> String {
        do {
            _ = try execute(nodes)
        } catch let failure as EvalFailure {
            throw failure.raisedByTemplate
                ? ChatTemplateError.raised(message: failure.message, line: line)
                : ChatTemplateError.render(message: failure.message, line: line)
        }
        return output
    }

    // MARK: - Statements

    func execute(_ nodes: [Node]) throws -> Flow {
        for node in nodes {
            let flow = try execute(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    private func execute(_ node: Node) throws -> Flow {
        switch node {
        case .text(let s):
            output += s
        case .output(let e, let l):
            line = l
            output += PythonFormatting.str(try evaluate(e))
        case .conditional(let branches, let otherwise, let l):
            line = l
            for (condition, body) in branches where try evaluate(condition).isTruthy {
                return try execute(body)
            }
            return try execute(otherwise)
        case .forLoop(let loop):
            return try executeFor(loop)
        case .set(let target, let e, let l):
            line = l
            try assign(target, try evaluate(e))
        case .setBlock(let target, let body, let filters, let l):
            var value = JinjaValue.string(try capture(body))
            for f in filters {
                line = f.line
                value = try Filters.apply(f.name, to: value, arguments: try evaluate(f.arguments), renderer: self)
            }
            line = l
            try assign(target, value)
        case .macro(let definition, let l):
            line = l
            let id = macros.count
            macros.append(MacroRuntime(definition: definition, capturedScopes: Array(scopes.dropFirst()), isCaller: false))
            scopes[scopes.count - 1][definition.name] = .callable(.macro(id))
        case .callBlock(let call, let params, let body, let l):
            line = l
            let callerId = macros.count
            macros.append(MacroRuntime(definition: MacroDefinition(name: "caller", parameters: params, body: body),
                                       capturedScopes: Array(scopes.dropFirst()), isCaller: true))
            guard case .call(let callee, var args) = call else { break }
            args.keyword.append(("caller", .literal(.callable(.macro(callerId)))))
            output += PythonFormatting.str(try evaluate(.call(callee, args)))
        case .filterBlock(let filters, let body, let l):
            var value = JinjaValue.string(try capture(body))
            for f in filters {
                line = f.line
                value = try Filters.apply(f.name, to: value, arguments: try evaluate(f.arguments), renderer: self)
            }
            line = l
            output += PythonFormatting.str(value)
        case .with(let assignments, let body, let l):
            line = l
            var scope: [String: JinjaValue] = [:]
            for (name, e) in assignments { scope[name] = try evaluate(e) }
            scopes.append(scope)
            defer { scopes.removeLast() }
            return try execute(body)
        case .generation(let body):
            return try execute(body)
        case .loopBreak(let l):
            line = l
            return .breakLoop
        case .loopContinue(let l):
            line = l
            return .continueLoop
        }
        return .normal
    }

    /// Renders nodes into a separate buffer and returns the text.
    func capture(_ nodes: [Node]) throws -> String {
        let saved = output
        output = ""
        defer { output = saved }
        _ = try execute(nodes)
        return output
    }

    private func assign(_ target: AssignTarget, _ value: JinjaValue) throws {
        switch target {
        case .name(let n):
            scopes[scopes.count - 1][n] = value
        case .names(let names):
            let items = try unpack(value, count: names.count)
            for (n, v) in zip(names, items) { scopes[scopes.count - 1][n] = v }
        case .namespaceAttribute(let n, let attribute):
            guard case .namespace(let id) = lookup(n) else {
                throw EvalFailure(message: "cannot assign attribute on non-namespace object")
            }
            namespaces[id][attribute] = value
        }
    }

    func unpack(_ value: JinjaValue, count: Int) throws -> [JinjaValue] {
        let items = try iterate(value)
        if items.count < count {
            throw EvalFailure(message: "not enough values to unpack (expected \(count), got \(items.count))")
        }
        if items.count > count { throw EvalFailure(message: "too many values to unpack (expected \(count))") }
        return items
    }

    private func executeFor(_ loop: ForLoop) throws -> Flow {
        line = loop.line
        var items = try iterate(try evaluate(loop.iterable))
        if let filter = loop.filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append(try bindTargets(loop, item))
                defer { scopes.removeLast() }
                if try evaluate(filter).isTruthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty { return try execute(loop.otherwise) }
        let length = items.count
        for (i, item) in items.enumerated() {
            var scope = try bindTargets(loop, item)
            scope["loop"] = .object(JinjaObject([
                ("index", .int(i + 1)), ("index0", .int(i)),
                ("revindex", .int(length - i)), ("revindex0", .int(length - i - 1)),
                ("first", .bool(i == 0)), ("last", .bool(i == length - 1)),
                ("length", .int(length)),
                ("previtem", i > 0 ? items[i - 1] : .undefined("'loop.previtem' is undefined")),
                ("nextitem", i + 1 < length ? items[i + 1] : .undefined("'loop.nextitem' is undefined")),
                ("depth", .int(1)), ("depth0", .int(0)),
                ("cycle", .callable(.loopCycle(i))),
            ]))
            scopes.append(scope)
            let flow = try execute(loop.body)
            scopes.removeLast()
            if flow == .breakLoop { break }
            line = loop.line
        }
        return .normal
    }

    private func bindTargets(_ loop: ForLoop, _ item: JinjaValue) throws -> [String: JinjaValue] {
        var scope: [String: JinjaValue] = [:]
        if loop.unpacks {
            for (n, v) in zip(loop.targets, try unpack(item, count: loop.targets.count)) { scope[n] = v }
        } else {
            scope[loop.targets[0]] = item
        }
        return scope
    }

    /// The items a `for` loop visits: list elements, dict keys, string characters.
    func iterate(_ value: JinjaValue) throws -> [JinjaValue] {
        switch value {
        case .array(let a), .tuple(let a): return a
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
        case .undefined: return []
        case .namespace(let id): return namespaces[id].keys.map { .string($0) }
        default: throw EvalFailure(message: "'\(value.pythonTypeName)' object is not iterable")
        }
    }

    // MARK: - Names

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() {
            if let v = scope[name] { return v }
        }
        if Globals.names.contains(name) { return .callable(.global(name)) }
        return .undefined("'\(name)' is undefined")
    }

    // MARK: - Macros

    func callMacro(_ id: Int, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)]) throws -> JinjaValue {
        let macro = macros[id]
        let params = macro.definition.parameters
        if args.count > params.count {
            throw EvalFailure(message: "macro '\(macro.definition.name)' takes not more than \(params.count) argument(s)")
        }
        guard macroDepth < Self.maxMacroDepth else {
            throw EvalFailure(message: "maximum recursion depth exceeded in macro '\(macro.definition.name)'")
        }
        let savedScopes = scopes
        let savedLine = line
        scopes = [scopes[0]] + macro.capturedScopes + [[:]]
        macroDepth += 1
        defer {
            scopes = savedScopes
            line = savedLine
            macroDepth -= 1
        }
        var local: [String: JinjaValue] = [:]
        var keywords = kwargs
        for (i, (name, defaultExpr)) in params.enumerated() {
            if i < args.count {
                local[name] = args[i]
            } else if let k = keywords.firstIndex(where: { $0.0 == name }) {
                local[name] = keywords.remove(at: k).1
            } else if let defaultExpr {
                scopes[scopes.count - 1] = local
                local[name] = try evaluate(defaultExpr)
            } else {
                local[name] = .undefined("parameter '\(name)' was not provided")
            }
        }
        if let k = keywords.firstIndex(where: { $0.0 == "caller" }) {
            local["caller"] = keywords.remove(at: k).1
        }
        if let extra = keywords.first {
            throw EvalFailure(message: "macro '\(macro.definition.name)' takes no keyword argument '\(extra.0)'")
        }
        scopes[scopes.count - 1] = local
        return .string(try capture(macro.definition.body))
    }
}
