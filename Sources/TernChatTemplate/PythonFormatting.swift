/// Text forms of values exactly as Python writes them: `str()`, `repr()` and `json.dumps`.
enum PythonFormatting {
    /// `str(value)` as jinja2 prints it with `{{ }}`; undefined prints as "".
    static func str(_ value: JinjaValue) -> String {
        switch value {
        case .undefined: return ""
        case .string(let s), .markup(let s): return s
        default: return repr(value)
        }
    }

    static func repr(_ value: JinjaValue) -> String {
        switch value {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return floatRepr(d)
        case .string(let s): return stringRepr(s)
        case .markup(let s): return "Markup(" + stringRepr(s) + ")"
        case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
        case .tuple(let a):
            if a.count == 1 { return "(" + repr(a[0]) + ",)" }
            return "(" + a.map(repr).joined(separator: ", ") + ")"
        case .object(let o):
            return "{" + o.pairs.map { stringRepr($0.0) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        case .namespace: return "<Namespace>"
        case .callable: return "<function>"
        }
    }

    /// Python's `repr(float)`: shortest round-trip digits, positional for exponents -4..<16.
    static func floatRepr(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == 0 { return d.sign == .minus ? "-0.0" : "0.0" }
        // Swift's description also gives the shortest round-trip digits; re-layout them Python's way.
        let (negative, digits, exponent) = shortestDigits(d)
        var out = negative ? "-" : ""
        if exponent >= -4 && exponent < 16 {
            if exponent < 0 {
                out += "0." + String(repeating: "0", count: -exponent - 1) + digits
            } else if digits.count <= exponent + 1 {
                out += digits + String(repeating: "0", count: exponent + 1 - digits.count) + ".0"
            } else {
                let cut = digits.index(digits.startIndex, offsetBy: exponent + 1)
                out += digits[..<cut] + "." + digits[cut...]
            }
        } else {
            out += String(digits.first!)
            if digits.count > 1 { out += "." + digits.dropFirst() }
            out += exponent < 0 ? "e-" : "e+"
            let e = String(abs(exponent))
            out += (e.count < 2 ? "0" : "") + e
        }
        return out
    }

    /// Significant digits (no leading/trailing zeros) and the decimal exponent of the first digit.
    private static func shortestDigits(_ d: Double) -> (Bool, String, Int) {
        var text = abs(d).description
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(text[text.index(after: e)...])!
            text = String(text[..<e])
        }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var all = intPart + fracPart
        var pointPos = intPart.count + exponent  // digits before the decimal point
        while all.first == "0" {
            all.removeFirst()
            pointPos -= 1
        }
        while all.last == "0" { all.removeLast() }
        if all.isEmpty { all = "0" }
        return (d < 0, all, pointPos - 1)
    }

    /// Python's `repr(str)`: single quotes unless the text has a ' and no ".
    static func stringRepr(_ s: String) -> String {
        let quote: Character = (s.contains("'") && !s.contains("\"")) ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if Character(scalar) == quote {
                    out += "\\" + String(quote)
                } else if scalar.value < 0x20 || (scalar.value >= 0x7f && scalar.value <= 0xa0) {
                    out += "\\x" + hex(scalar.value, width: 2)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out.append(quote)
        return out
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let h = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - h.count)) + h
    }
}

/// `json.dumps(value, ensure_ascii=False, indent=indent, separators=..., sort_keys=...)`, as the
/// `tojson` filter transformers installs calls it.
struct PythonJSONEncoder {
    var indent: Int?
    var itemSeparator: String
    var keySeparator: String
    var sortKeys = false

    init(indent: Int? = nil, separators: (String, String)? = nil, sortKeys: Bool = false) {
        self.indent = indent
        // Python's default item separator drops its space when indenting.
        self.itemSeparator = separators?.0 ?? (indent == nil ? ", " : ",")
        self.keySeparator = separators?.1 ?? ": "
        self.sortKeys = sortKeys
    }

    func encode(_ value: JinjaValue) throws -> String {
        var out = ""
        try write(value, level: 0, into: &out)
        return out
    }

    private func write(_ value: JinjaValue, level: Int, into out: inout String) throws {
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else {
                out += PythonFormatting.floatRepr(d)
            }
        case .string(let s), .markup(let s): Self.writeString(s, into: &out)
        case .array(let items), .tuple(let items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1, into: &out)
                try write(item, level: level + 1, into: &out)
            }
            newline(level, into: &out)
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            let pairs = sortKeys ? o.pairs.sorted { $0.0 < $1.0 } : o.pairs
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += itemSeparator }
                newline(level + 1, into: &out)
                Self.writeString(k, into: &out)
                out += keySeparator
                try write(v, level: level + 1, into: &out)
            }
            newline(level, into: &out)
            out += "}"
        case .undefined, .namespace, .callable:
            let typeName = value.isUndefined ? "Undefined" : value.pythonTypeName
            throw EvalFailure(message: "Object of type \(typeName) is not JSON serializable")
        }
    }

    private func newline(_ level: Int, into out: inout String) {
        guard let indent else { return }
        out += "\n" + String(repeating: " ", count: indent * level)
    }

    static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += "\\u" + PythonFormatting.hex(scalar.value, width: 4)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
