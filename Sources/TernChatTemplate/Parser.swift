/// Recursive-descent parser for the Jinja subset chat templates use. Operator precedence and
/// the grammar of tags follow jinja2's parser so the same text means the same thing.
struct Parser {
    private let tokens: [Token]
    private var index = 0
    /// Nesting of expressions and blocks; bounded so a pathological template fails instead of overflowing the stack.
    private var depth = 0
    private static let maxDepth = 200

    init(tokens: [Token]) { self.tokens = tokens }

    static func parse(_ source: String) throws -> [Node] {
        var parser = Parser(tokens: try Lexer.tokenize(source))
        let (nodes, end) = try parser.subparse(until: [])
        precondition(end == nil)
        return nodes
    }

    // MARK: - Token stream

    private var current: Token { tokens[index] }
    private var next: Token { tokens[min(index + 1, tokens.count - 1)] }

    private mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    private func fail(_ message: String, at token: Token? = nil) -> ChatTemplateError {
        let t = token ?? current
        return .syntax(message: message, line: t.line, column: t.column)
    }

    private func describe(_ kind: Token.Kind) -> String {
        switch kind {
        case .text: return "template data"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "end of statement block"
        case .variableBegin: return "'{{'"
        case .variableEnd: return "end of print statement"
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string '\(s)'"
        case .integer(let i): return "integer \(i)"
        case .float(let d): return "float \(d)"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }

    private func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    private func isName(_ name: String) -> Bool { current.kind == .name(name) }

    private mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { advance(); return true }
        return false
    }

    private mutating func skipName(_ name: String) -> Bool {
        if isName(name) { advance(); return true }
        return false
    }

    private mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw fail("expected '\(op)', got \(describe(current.kind))") }
    }

    private mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw fail("expected end of statement block, got \(describe(current.kind))") }
        advance()
    }

    private mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw fail("expected a name, got \(describe(current.kind))") }
        advance()
        return n
    }

    // MARK: - Statements

    /// Parses nodes until a block tag named in `until`; returns that name with the stream just after it.
    private mutating func subparse(until: Set<String>) throws -> ([Node], String?) {
        var nodes: [Node] = []
        while true {
            let token = current
            switch token.kind {
            case .eof:
                if !until.isEmpty {
                    throw fail("unexpected end of template, expected one of: \(until.sorted().joined(separator: ", "))")
                }
                return (nodes, nil)
            case .text(let s):
                nodes.append(.text(s))
                advance()
            case .variableBegin:
                advance()
                let e = try parseTuple(withCondexpr: true)
                guard current.kind == .variableEnd else { throw fail("expected end of print statement, got \(describe(current.kind))") }
                advance()
                nodes.append(.output(e, line: token.line))
            case .blockBegin:
                advance()
                guard case .name(let tag) = current.kind else { throw fail("expected a tag name, got \(describe(current.kind))") }
                if until.contains(tag) {
                    advance()
                    return (nodes, tag)
                }
                nodes.append(try parseStatement(tag))
            default:
                throw fail("unexpected \(describe(token.kind))")
            }
        }
    }

    private mutating func parseStatement(_ tag: String) throws -> Node {
        try enter()
        defer { depth -= 1 }
        let tagToken = current
        advance()
        switch tag {
        case "if": return try parseIf(line: tagToken.line)
        case "for": return try parseFor(line: tagToken.line)
        case "set": return try parseSet(line: tagToken.line)
        case "macro": return try parseMacro(line: tagToken.line)
        case "call": return try parseCallBlock(line: tagToken.line)
        case "filter":
            let filters = try parseFilterChain(first: true)
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endfilter"])
            try expectBlockEnd()
            return .filterBlock(filters: filters, body: body, line: tagToken.line)
        case "with": return try parseWith(line: tagToken.line)
        case "generation":
            try expectBlockEnd()
            let (body, _) = try subparse(until: ["endgeneration"])
            try expectBlockEnd()
            return .generation(body: body)
        case "break":
            try expectBlockEnd()
            return .loopBreak(line: tagToken.line)
        case "continue":
            try expectBlockEnd()
            return .loopContinue(line: tagToken.line)
        default:
            throw fail("unknown tag '\(tag)'", at: tagToken)
        }
    }

    private mutating func parseIf(line: Int) throws -> Node {
        var branches: [(Expr, [Node])] = []
        var condition = try parseTuple(withCondexpr: false)
        while true {
            try expectBlockEnd()
            let (body, tag) = try subparse(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            switch tag {
            case "elif":
                condition = try parseTuple(withCondexpr: false)
            case "else":
                try expectBlockEnd()
                let (otherwise, _) = try subparse(until: ["endif"])
                try expectBlockEnd()
                return .conditional(branches: branches, otherwise: otherwise, line: line)
            default:
                try expectBlockEnd()
                return .conditional(branches: branches, otherwise: [], line: line)
            }
        }
    }

    private mutating func parseFor(line: Int) throws -> Node {
        let (targets, unpacks) = try parseNameTargets()
        guard skipName("in") else { throw fail("expected 'in', got \(describe(current.kind))") }
        let iterable = try parseTuple(withCondexpr: false, extraEnd: ["recursive", "if"])
        var filter: Expr? = nil
        if skipName("if") { filter = try parseExpression() }
        if isName("recursive") { throw fail("recursive loops are not supported") }
        try expectBlockEnd()
        let (body, tag) = try subparse(until: ["endfor", "else"])
        var otherwise: [Node] = []
        if tag == "else" {
            try expectBlockEnd()
            (otherwise, _) = try subparse(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forLoop(ForLoop(targets: targets, unpacks: unpacks, iterable: iterable, filter: filter,
                                body: body, otherwise: otherwise, line: line))
    }

    /// `x`, `k, v` or `(k, v)`.
    private mutating func parseNameTargets() throws -> ([String], Bool) {
        let parenthesized = skipOp("(")
        var names = [try expectName()]
        var unpacks = parenthesized
        while skipOp(",") {
            unpacks = true
            if case .name = current.kind { names.append(try expectName()) } else { break }
        }
        if parenthesized { try expectOp(")") }
        return (names, unpacks)
    }

    private mutating func parseSet(line: Int) throws -> Node {
        let target: AssignTarget
        let first = try expectName()
        if skipOp(".") {
            target = .namespaceAttribute(first, try expectName())
        } else if isOp(",") {
            var names = [first]
            while skipOp(",") { names.append(try expectName()) }
            target = .names(names)
        } else {
            target = .name(first)
        }
        if skipOp("=") {
            let value = try parseTuple(withCondexpr: true)
            try expectBlockEnd()
            return .set(target, value, line: line)
        }
        let filters = isOp("|") ? try parseFilterChain(first: false) : []
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, body: body, filters: filters, line: line)
    }

    private mutating func parseParameters() throws -> [(String, Expr?)] {
        var params: [(String, Expr?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            let value: Expr? = skipOp("=") ? try parseExpression() : nil
            params.append((name, value))
        }
        try expectOp(")")
        return params
    }

    private mutating func parseMacro(line: Int) throws -> Node {
        let name = try expectName()
        let params = try parseParameters()
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endmacro"])
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: params, body: body), line: line)
    }

    private mutating func parseCallBlock(line: Int) throws -> Node {
        let callerParams = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = call else { throw fail("expected a call in the call block") }
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endcall"])
        try expectBlockEnd()
        return .callBlock(call: call, callerParameters: callerParams, body: body, line: line)
    }

    private mutating func parseWith(line: Int) throws -> Node {
        var assignments: [(String, Expr)] = []
        while current.kind != .blockEnd {
            if !assignments.isEmpty { try expectOp(",") }
            let name = try expectName()
            try expectOp("=")
            assignments.append((name, try parseExpression()))
        }
        try expectBlockEnd()
        let (body, _) = try subparse(until: ["endwith"])
        try expectBlockEnd()
        return .with(assignments: assignments, body: body, line: line)
    }

    /// `name(args) | name2 ...` as used by `{% filter %}` (first: no leading pipe) and block set.
    private mutating func parseFilterChain(first: Bool) throws -> [FilterCall] {
        var filters: [FilterCall] = []
        var needPipe = !first
        while true {
            if needPipe { guard skipOp("|") else { break } }
            needPipe = true
            let token = current
            let name = try expectName()
            guard Filters.known.contains(name) else { throw fail("no filter named '\(name)'", at: token) }
            let args = isOp("(") ? try parseCallArguments() : CallArguments()
            filters.append(FilterCall(name: name, arguments: args, line: token.line))
        }
        return filters
    }

    // MARK: - Expressions

    private func isTupleEnd(_ extraEnd: Set<String>) -> Bool {
        switch current.kind {
        case .variableEnd, .blockEnd, .eof: return true
        case .op(")"): return true
        case .name(let n): return extraEnd.contains(n)
        default: return false
        }
    }

    private mutating func parseTuple(withCondexpr: Bool, extraEnd: Set<String> = [], explicitParentheses: Bool = false) throws -> Expr {
        var items: [Expr] = []
        var isTuple = false
        while true {
            if !items.isEmpty { try expectOp(",") }
            if isTupleEnd(extraEnd) { break }
            items.append(withCondexpr ? try parseExpression() : try parseOr())
            if isOp(",") { isTuple = true } else { break }
        }
        if !isTuple {
            if let only = items.first { return only }
            if !explicitParentheses { throw fail("expected an expression, got \(describe(current.kind))") }
        }
        return .tuple(items)
    }

    private mutating func enter() throws {
        depth += 1
        if depth > Self.maxDepth { throw fail("template nesting is too deep") }
    }

    private mutating func parseExpression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var expr = try parseOr()
        while skipName("if") {
            let test = try parseOr()
            let otherwise: Expr? = skipName("else") ? try parseExpression() : nil
            expr = .conditional(then: expr, test: test, otherwise: otherwise)
        }
        return expr
    }

    private mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        while skipName("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        while skipName("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws -> Expr {
        if skipName("not") { return .not(try parseNot()) }
        return try parseCompare()
    }

    private mutating func parseCompare() throws -> Expr {
        let first = try parseMath1()
        var ops: [(String, Expr)] = []
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                advance()
                ops.append((o, try parseMath1()))
            } else if isName("in") {
                advance()
                ops.append(("in", try parseMath1()))
            } else if isName("not"), next.kind == .name("in") {
                advance()
                advance()
                ops.append(("notin", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? first : .compare(first, ops)
    }

    private mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            advance()
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    private mutating func parseConcat() throws -> Expr {
        var parts = [try parseMath2()]
        while skipOp("~") { parts.append(try parseMath2()) }
        return parts.count == 1 ? parts[0] : .concat(parts)
    }

    private mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            advance()
            left = .binary(o, left, try parsePow())
        }
        return left
    }

    private mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        while skipOp("**") { left = .binary("**", left, try parseUnary()) }
        return left
    }

    private mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var node: Expr
        if skipOp("-") {
            node = .unary("-", try parseUnary(withFilter: false))
        } else if skipOp("+") {
            node = .unary("+", try parseUnary(withFilter: false))
        } else {
            node = try parsePrimary()
        }
        node = try parsePostfix(node)
        if withFilter { node = try parseFilterExpression(node) }
        return node
    }

    private mutating func parsePrimary() throws -> Expr {
        let token = current
        switch token.kind {
        case .name(let n):
            advance()
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n, line: token.line)
            }
        case .string(let s):
            advance()
            var text = s
            while case .string(let more) = current.kind {
                text += more
                advance()
            }
            return .literal(.string(text))
        case .integer(let i):
            advance()
            return .literal(.int(i))
        case .float(let d):
            advance()
            return .literal(.double(d))
        case .op("("):
            advance()
            let e = try parseTuple(withCondexpr: true, explicitParentheses: true)
            try expectOp(")")
            return e
        case .op("["):
            advance()
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            advance()
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return .dict(pairs)
        default:
            throw fail("unexpected \(describe(token.kind))")
        }
    }

    private mutating func parsePostfix(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if skipOp(".") {
                switch current.kind {
                case .name(let n):
                    advance()
                    node = .attribute(node, n)
                case .integer(let i):
                    advance()
                    node = .item(node, .literal(.int(i)))
                default:
                    throw fail("expected an attribute name, got \(describe(current.kind))")
                }
            } else if skipOp("[") {
                node = try parseSubscript(node)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    private mutating func parseSubscript(_ target: Expr) throws -> Expr {
        var start: Expr? = nil
        if !isOp(":") {
            let e = try parseExpression()
            if !isOp(":") {
                if isOp(",") { throw fail("tuple subscripts are not supported") }
                try expectOp("]")
                return .item(target, e)
            }
            start = e
        }
        try expectOp(":")
        var stop: Expr? = nil
        var step: Expr? = nil
        if !isOp("]") && !isOp(":") { stop = try parseExpression() }
        if skipOp(":") {
            if !isOp("]") { step = try parseExpression() }
        }
        try expectOp("]")
        return .slice(target, start: start, stop: stop, step: step)
    }

    private mutating func parseCallArguments() throws -> CallArguments {
        try expectOp("(")
        var args = CallArguments()
        var first = true
        while !isOp(")") {
            if !first { try expectOp(",") }
            first = false
            if isOp(")") { break }
            if isOp("*") || isOp("**") { throw fail("*args and **kwargs in calls are not supported") }
            if case .name(let n) = current.kind, next.kind == .op("=") {
                advance()
                advance()
                args.keyword.append((n, try parseExpression()))
            } else {
                if !args.keyword.isEmpty { throw fail("positional argument follows keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    private mutating func parseFilterExpression(_ start: Expr) throws -> Expr {
        var node = start
        while true {
            if skipOp("|") {
                let token = current
                let name = try expectName()
                guard Filters.known.contains(name) else { throw fail("no filter named '\(name)'", at: token) }
                let args = isOp("(") ? try parseCallArguments() : CallArguments()
                node = .filter(node, name: name, args, line: token.line)
            } else if isName("is") {
                advance()
                let negated = skipName("not")
                let token = current
                let name = try expectName()
                guard TemplateTests.known.contains(name) else { throw fail("no test named '\(name)'", at: token) }
                var args = CallArguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsTestArgument() {
                    args.positional = [try parsePostfix(try parsePrimary())]
                }
                node = .test(node, name: name, args, negated: negated, line: token.line)
            } else if isOp("(") {
                node = .call(node, try parseCallArguments())
            } else {
                return node
            }
        }
    }

    /// jinja2 lets a test take one argument without parentheses: `x is divisibleby 3`.
    private func startsTestArgument() -> Bool {
        switch current.kind {
        case .name(let n): return !["else", "or", "and", "is", "if", "in", "not"].contains(n)
        case .string, .integer, .float, .op("["), .op("{"): return true
        default: return false
        }
    }
}
