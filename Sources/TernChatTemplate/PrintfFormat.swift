import Foundation

/// Python's `text % args` for the `format` filter: `%s %r %d %i %f %e %g %x %o %%` with flags,
/// width and precision.
enum PrintfFormat {
    static func format(_ template: String, _ args: [JinjaValue]) throws -> String {
        var out = ""
        var chars = Array(template)[...]
        var next = 0
        func take() throws -> JinjaValue {
            guard next < args.count else { throw EvalFailure(message: "not enough arguments for format string") }
            defer { next += 1 }
            return args[next]
        }
        while let c = chars.popFirst() {
            guard c == "%" else { out.append(c); continue }
            var flags = ""
            while let f = chars.first, "-+ 0#".contains(f) { flags.append(f); chars.removeFirst() }
            var width = ""
            while let d = chars.first, d.isASCII, d.isNumber { width.append(d); chars.removeFirst() }
            var precision: String? = nil
            if chars.first == "." {
                chars.removeFirst()
                var p = ""
                while let d = chars.first, d.isASCII, d.isNumber { p.append(d); chars.removeFirst() }
                precision = p
            }
            guard let type = chars.popFirst() else { throw EvalFailure(message: "incomplete format") }
            let spec = "%" + flags + width + (precision.map { "." + $0 } ?? "")
            switch type {
            case "%": out += "%"
            case "s", "r":
                let v = try take()
                var text = type == "s" ? PythonFormatting.str(v) : PythonFormatting.repr(v)
                if let p = precision, let n = Int(p) { text = String(text.prefix(n)) }
                let pad = max(0, (Int(width) ?? 0) - text.count)
                text = flags.contains("-") ? text + String(repeating: " ", count: pad) : String(repeating: " ", count: pad) + text
                out += text
            case "d", "i", "x", "X", "o":
                let v = try take()
                guard let n = v.numericValue else { throw EvalFailure(message: "%\(type) format: a real number is required, not \(v.pythonTypeName)") }
                let i: Int = { if case .int(let i) = n { return i } else { return Int(n.asDouble) } }()
                let cType = type == "i" ? "d" : String(type)
                out += String(format: spec + "l" + cType, i)
            case "f", "F", "e", "E", "g", "G":
                let v = try take()
                guard let n = v.numericValue else { throw EvalFailure(message: "must be real number, not \(v.pythonTypeName)") }
                out += String(format: spec + String(type), n.asDouble)
            default:
                throw EvalFailure(message: "unsupported format character '\(type)'")
            }
        }
        if next < args.count { throw EvalFailure(message: "not all arguments converted during string formatting") }
        return out
    }
}
