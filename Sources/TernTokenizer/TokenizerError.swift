/// Why a tokenizer could not be loaded.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    case fileNotFound(String)
    case invalidJSON(String)
    /// A component of tokenizer.json this implementation does not support; names the component.
    case unsupported(component: String, type: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .fileNotFound(path): return "tokenizer file not found: \(path)"
        case let .invalidJSON(what): return "invalid tokenizer JSON: \(what)"
        case let .unsupported(component, type): return "unsupported \(component) type \"\(type)\" in tokenizer.json"
        case let .invalid(what): return "invalid tokenizer.json: \(what)"
        }
    }
}
