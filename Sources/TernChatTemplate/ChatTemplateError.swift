/// Why a template could not be parsed or rendered. Every case names the template line, so a bad
/// template fails loudly instead of producing a wrong prompt.
public enum ChatTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The template text is not valid (in the supported Jinja subset).
    case syntax(message: String, line: Int, column: Int)
    /// Rendering failed: an unknown filter, a type error, an undefined value used in arithmetic...
    case render(message: String, line: Int)
    /// The template called `raise_exception(message)`.
    case raised(message: String, line: Int)
    /// The conversation cannot be rendered as asked (e.g. `continue_final_message` without a final message).
    case invalidInput(message: String)

    public var description: String {
        switch self {
        case .syntax(let m, let l, let c): return "chat template syntax error at line \(l), column \(c): \(m)"
        case .render(let m, let l): return "chat template error at line \(l): \(m)"
        case .raised(let m, let l): return "chat template raised an exception at line \(l): \(m)"
        case .invalidInput(let m): return "cannot render chat: \(m)"
        }
    }

    public var message: String {
        switch self {
        case .syntax(let m, _, _), .render(let m, _), .raised(let m, _), .invalidInput(let m): return m
        }
    }

    public var line: Int {
        switch self {
        case .syntax(_, let l, _), .render(_, let l), .raised(_, let l): return l
        case .invalidInput: return 0
        }
    }
}

/// A failure raised deep in evaluation, before the interpreter attaches the line it was on.
struct EvalFailure: Error {
    var message: String
    var raisedByTemplate = false
}
