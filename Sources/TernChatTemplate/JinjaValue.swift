/// A value as a chat template sees it: the JSON-like data passed in (messages, tools, kwargs)
/// plus the few runtime-only kinds jinja2 has (undefined, tuples, namespaces, callables).
///
/// Semantics follow Python as jinja2 runs it: `1 == 1.0`, `true == 1`, dicts keep insertion order.
public enum JinjaValue: Sendable {
    /// jinja2's default `Undefined`: prints as "", is falsy, fails on arithmetic and attribute access.
    /// The payload only describes the value for error messages.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    /// Text marked safe by `|safe` or `|e` (jinja2's Markup): prints as its text, but `+`
    /// HTML-escapes a plain string joined to it. Only output, `~`, `+`, `*`, comparisons,
    /// `in`, `length`, `tojson`, `string` and the escaping filters accept it; anything else fails.
    case markup(String)
    case array([JinjaValue])
    /// Python tuple: behaves as a list but prints with parentheses (e.g. from `dict.items()`).
    case tuple([JinjaValue])
    case object(JinjaObject)
    /// A `namespace()` created during one render; the id indexes that render's namespace store.
    case namespace(Int)
    case callable(JinjaCallable)

    public static let undefinedValue = JinjaValue.undefined("undefined")

    public var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    public var isNone: Bool {
        if case .none = self { return true }
        return false
    }

    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s), .markup(let s): return !s.isEmpty
        case .array(let a), .tuple(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .namespace, .callable: return true
        }
    }

    /// The name Python gives the type, used in error messages as jinja2 words them.
    var pythonTypeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .markup: return "Markup"
        case .array: return "list"
        case .tuple: return "tuple"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    /// Elements when the value is a list or tuple.
    var sequenceElements: [JinjaValue]? {
        switch self {
        case .array(let a), .tuple(let a): return a
        default: return nil
        }
    }
}

/// Things a template can call besides macros defined in it.
public indirect enum JinjaCallable: Sendable {
    /// A global function: range, namespace, dict, raise_exception, strftime_now, ...
    case global(String)
    /// A Python method bound to its receiver, e.g. `"a b".split`.
    case method(JinjaValue, String)
    /// A macro defined during the current render; the id indexes that render's macro table.
    case macro(Int)
    /// `loop.cycle` for the iteration with this index0.
    case loopCycle(Int)
}

/// A dict with Python's insertion order and string keys (what JSON gives). Small dicts (messages,
/// the per-iteration `loop` object) search their keys linearly; large ones add a hash index.
public struct JinjaObject: Sendable {
    public private(set) var keys: [String] = []
    public private(set) var values: [JinjaValue] = []
    private var index: [String: Int]? = nil
    private static let indexThreshold = 16

    public init() {}

    public init(_ pairs: [(String, JinjaValue)]) {
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        for (k, v) in pairs { self[k] = v }
    }

    public var isEmpty: Bool { keys.isEmpty }
    public var count: Int { keys.count }

    private func position(of key: String) -> Int? {
        if let index { return index[key] }
        return keys.firstIndex(of: key)
    }

    public subscript(key: String) -> JinjaValue? {
        get { position(of: key).map { values[$0] } }
        set {
            if let i = position(of: key) {
                if let newValue {
                    values[i] = newValue
                } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                    rebuildIndex()
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
                if index != nil {
                    index![key] = keys.count - 1
                } else if keys.count > Self.indexThreshold {
                    rebuildIndex()
                }
            }
        }
    }

    private mutating func rebuildIndex() {
        guard keys.count > Self.indexThreshold else {
            index = nil
            return
        }
        var built: [String: Int] = [:]
        built.reserveCapacity(keys.count)
        for (i, k) in keys.enumerated() { built[k] = i }
        index = built
    }

    /// Pairs in insertion order.
    public var pairs: [(String, JinjaValue)] { Array(zip(keys, values)) }
}

extension JinjaValue: Equatable {
    /// Python `==`.
    public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
        switch (lhs, rhs) {
        case (.undefined, .undefined), (.none, .none): return true
        case (.string(let a), .string(let b)), (.markup(let a), .markup(let b)),
             (.markup(let a), .string(let b)), (.string(let a), .markup(let b)):
            return a == b
        case (.object(let a), .object(let b)):
            guard a.count == b.count else { return false }
            for (k, v) in a.pairs {
                guard let w = b[k], v == w else { return false }
            }
            return true
        case (.array(let a), .array(let b)), (.tuple(let a), .tuple(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0 == $1 }
        case (.namespace(let a), .namespace(let b)): return a == b
        default:
            if let a = lhs.numericValue, let b = rhs.numericValue {
                switch (a, b) {
                case (.int(let x), .int(let y)): return x == y
                default: return a.asDouble == b.asDouble
                }
            }
            return false
        }
    }
}

/// Numbers as Python sees them (bool is an int).
enum PyNumber {
    case int(Int)
    case double(Double)

    var asDouble: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }
}

extension JinjaValue {
    var numericValue: PyNumber? {
        switch self {
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        default: return nil
        }
    }
}

// Literal conveniences for building contexts in code and tests.
extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
    public init(nilLiteral: ()) { self = .none }
}
