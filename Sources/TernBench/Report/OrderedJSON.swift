import Foundation
import TernCore

/// A JSON object that keeps its keys in insertion order (bench_serving's records read top-down:
/// settings first, then figures).
public struct OrderedJSON: Sendable {
    public enum Value: Sendable, Equatable {
        case int(Int)
        case double(Double)
        case string(String)
        case bool(Bool)
        case null
    }

    public private(set) var fields: [(key: String, value: Value)] = []

    public init() {}

    public mutating func set(_ key: String, _ value: Value) { fields.append((key, value)) }
    public mutating func set(_ key: String, _ value: Int) { set(key, .int(value)) }
    public mutating func set(_ key: String, _ value: Double) { set(key, .double(value)) }
    public mutating func set(_ key: String, _ value: String?) { set(key, value.map(Value.string) ?? .null) }
    public mutating func set(_ key: String, _ value: Bool) { set(key, .bool(value)) }

    /// One line of JSON. Non-finite numbers have no JSON form: they are written as strings ("inf").
    public var line: String {
        var out = "{"
        for (i, field) in fields.enumerated() {
            if i > 0 { out += ", " }
            out += jsonStringLiteral(field.key) + ": " + Self.render(field.value)
        }
        return out + "}"
    }

    static func render(_ value: Value) -> String {
        switch value {
        case .int(let v): return String(v)
        case .double(let v):
            if v.isNaN { return "\"nan\"" }
            if v.isInfinite { return v > 0 ? "\"inf\"" : "\"-inf\"" }
            return "\(v)"
        case .string(let s): return jsonStringLiteral(s)
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}
