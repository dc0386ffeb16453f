import Foundation
import TernCore

/// A request body's top-level JSON object, read field by field. Every accessor names the field in
/// the error it throws, so a client learns which parameter was wrong. Absent and `null` fields
/// read as nil; unknown fields are ignored (as vLLM and SGLang do).
public struct RequestFields: Sendable {
    public let values: [String: JSONValue]
    /// Prefix for `param` in errors (e.g. "sampling_params.").
    public let path: String

    public init(_ values: [String: JSONValue], path: String = "") {
        self.values = values
        self.path = path
    }

    /// Parses a body; malformed JSON or a non-object document is a 400.
    public init(body: some Collection<UInt8>) throws(APIError) {
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw .invalid("The request body is not valid JSON: \(Self.describe(error))", code: "invalid_json")
        }
        guard case .object(let object) = value else {
            throw .invalid("The request body must be a JSON object.", code: "invalid_json")
        }
        self.init(object)
    }

    private static func describe(_ error: any Error) -> String {
        if case let DecodingError.dataCorrupted(context) = error {
            return (context.underlyingError.map { String(describing: $0) }) ?? context.debugDescription
        }
        return String(describing: error)
    }

    public func has(_ name: String) -> Bool {
        if let v = values[name], !v.isNull { return true }
        return false
    }

    func wrongType(_ name: String, _ expected: String) -> APIError {
        .invalid("'\(path)\(name)' must be \(expected).", param: path + name, code: "invalid_type")
    }

    public func outOfRange(_ name: String, _ rule: String) -> APIError {
        .invalid("'\(path)\(name)' \(rule).", param: path + name, code: "invalid_value")
    }

    public func string(_ name: String) throws(APIError) -> String? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let s = v.string else { throw wrongType(name, "a string") }
        return s
    }

    public func bool(_ name: String) throws(APIError) -> Bool? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let b = v.bool else { throw wrongType(name, "a boolean") }
        return b
    }

    public func double(_ name: String) throws(APIError) -> Double? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let d = v.double else { throw wrongType(name, "a number") }
        return d
    }

    public func int(_ name: String) throws(APIError) -> Int? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let i = v.int else { throw wrongType(name, "an integer") }
        return i
    }

    /// An integer field that must lie in `range`.
    public func int(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let i = try int(name) else { return nil }
        guard range.contains(i) else { throw outOfRange(name, Self.rangeText(range)) }
        return i
    }

    public func object(_ name: String) throws(APIError) -> RequestFields? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let o = v.object else { throw wrongType(name, "an object") }
        return RequestFields(o, path: path + name + ".")
    }

    /// A string or a list of strings (`stop`).
    public func strings(_ name: String) throws(APIError) -> [String]? {
        guard let v = values[name], !v.isNull else { return nil }
        if let s = v.string { return [s] }
        guard let list = v.array else { throw wrongType(name, "a string or a list of strings") }
        var out: [String] = []
        for item in list {
            guard let s = item.string else { throw wrongType(name, "a string or a list of strings") }
            out.append(s)
        }
        return out
    }

    public func ints(_ name: String) throws(APIError) -> [Int]? {
        guard let v = values[name], !v.isNull else { return nil }
        guard let list = v.array else { throw wrongType(name, "a list of integers") }
        var out: [Int] = []
        out.reserveCapacity(list.count)
        for item in list {
            guard let i = item.int else { throw wrongType(name, "a list of integers") }
            out.append(i)
        }
        return out
    }

    static func rangeText(_ range: ClosedRange<Int>) -> String {
        if range.upperBound == Int.max { return "must be ≥ \(range.lowerBound)" }
        return "must be between \(range.lowerBound) and \(range.upperBound)"
    }
}

/// A prompt as clients send it: text or token ids.
public enum PromptInput: Sendable, Equatable {
    case text(String)
    case tokens([Int])
}

extension RequestFields {
    /// `prompt` of /v1/completions: a string, a list of ids, a list of strings or a list of id lists.
    public func prompts(_ name: String) throws(APIError) -> [PromptInput]? {
        guard let v = values[name], !v.isNull else { return nil }
        let expected = "a string, a list of strings, a list of token ids or a list of token id lists"
        if let s = v.string { return [.text(s)] }
        guard let list = v.array, !list.isEmpty else {
            if v.array != nil { throw outOfRange(name, "must not be empty") }
            throw wrongType(name, expected)
        }
        if list.allSatisfy({ $0.int != nil }) { return [.tokens(list.map { $0.int! })] }
        var out: [PromptInput] = []
        for item in list {
            if let s = item.string {
                out.append(.text(s))
            } else if let ids = item.array, ids.allSatisfy({ $0.int != nil }) {
                out.append(.tokens(ids.map { $0.int! }))
            } else {
                throw wrongType(name, expected)
            }
        }
        return out
    }
}
