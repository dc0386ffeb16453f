/// The parsed form of a template: statements (`Node`) holding expressions (`Expr`).
/// Every node keeps its template line so runtime errors can name it.

indirect enum Expr: Sendable {
    case literal(JinjaValue)
    case name(String, line: Int)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
    case call(Expr, CallArguments)
    case filter(Expr, name: String, CallArguments, line: Int)
    case test(Expr, name: String, CallArguments, negated: Bool, line: Int)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    case compare(Expr, [(String, Expr)])
    case and(Expr, Expr)
    case or(Expr, Expr)
    case not(Expr)
    case conditional(then: Expr, test: Expr, otherwise: Expr?)
    case concat([Expr])
}

struct CallArguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

enum AssignTarget: Sendable {
    case name(String)
    case names([String])
    case namespaceAttribute(String, String)
}

struct MacroDefinition: Sendable {
    var name: String
    var parameters: [(String, Expr?)]
    var body: [Node]
}

struct FilterCall: Sendable {
    var name: String
    var arguments: CallArguments
    var line: Int
}

indirect enum Node: Sendable {
    case text(String)
    case output(Expr, line: Int)
    case conditional(branches: [(Expr, [Node])], otherwise: [Node], line: Int)
    case forLoop(ForLoop)
    case set(AssignTarget, Expr, line: Int)
    case setBlock(AssignTarget, body: [Node], filters: [FilterCall], line: Int)
    case macro(MacroDefinition, line: Int)
    case callBlock(call: Expr, callerParameters: [(String, Expr?)], body: [Node], line: Int)
    case filterBlock(filters: [FilterCall], body: [Node], line: Int)
    case with(assignments: [(String, Expr)], body: [Node], line: Int)
    case generation(body: [Node])
    case loopBreak(line: Int)
    case loopContinue(line: Int)
}

struct ForLoop: Sendable {
    var targets: [String]
    var unpacks: Bool
    var iterable: Expr
    var filter: Expr?
    var body: [Node]
    var otherwise: [Node]
    var line: Int
}
