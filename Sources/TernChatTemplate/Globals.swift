import Foundation

/// Global functions a chat template can call: jinja2's (range, dict, namespace, lipsum-free)
/// plus the two transformers adds (`raise_exception`, `strftime_now`).
enum Globals {
    static let names: Set<String> = ["range", "dict", "namespace", "raise_exception", "strftime_now"]

    static func call(_ name: String, _ args: EvaluatedArguments, renderer: Renderer) throws -> JinjaValue {
        switch name {
        case "raise_exception":
            throw EvalFailure(message: PythonFormatting.str(args.value(0, "message") ?? .string("")), raisedByTemplate: true)
        case "strftime_now":
            return .string(strftime(PythonFormatting.str(args.value(0, "format") ?? .string("")),
                                    at: renderer.clock.now, in: renderer.clock.timeZone))
        case "range":
            let ints = try args.positional.map { v -> Int in
                guard case .int(let i) = v.numericValue, !v.isDouble else {
                    throw EvalFailure(message: "'\(v.pythonTypeName)' object cannot be interpreted as an integer")
                }
                return i
            }
            let (start, stop, step): (Int, Int, Int)
            switch ints.count {
            case 1: (start, stop, step) = (0, ints[0], 1)
            case 2: (start, stop, step) = (ints[0], ints[1], 1)
            case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
            default: throw EvalFailure(message: "range expected 1 to 3 arguments, got \(ints.count)")
            }
            guard step != 0 else { throw EvalFailure(message: "range() arg 3 must not be zero") }
            let count = step > 0 ? max(0, (stop - start + step - 1) / step) : max(0, (start - stop - step - 1) / -step)
            guard count <= 100_000 else { throw EvalFailure(message: "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).") }
            return .array(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        case "dict":
            var o = JinjaObject()
            if let first = args.positional.first {
                switch first {
                case .object(let base): o = base
                default:
                    for pair in try Filters.iterable(first) {
                        let kv = try renderer.unpack(pair, count: 2)
                        guard case .string(let key) = kv[0] else {
                            throw EvalFailure(message: "dict keys other than strings are not supported")
                        }
                        o[key] = kv[1]
                    }
                }
            }
            for (k, v) in args.keyword { o[k] = v }
            return .object(o)
        case "namespace":
            var o = JinjaObject()
            if case .object(let base)? = args.positional.first { o = base }
            for (k, v) in args.keyword { o[k] = v }
            for k in o.keys where k.hasPrefix("_") {
                throw EvalFailure(message: "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(k)'. Please rename the attribute.")
            }
            renderer.namespaces.append(o)
            return .namespace(renderer.namespaces.count - 1)
        default:
            throw EvalFailure(message: "'\(name)' is undefined")
        }
    }

    /// `datetime.now().strftime(format)`: the wall-clock time of `date` in `timeZone`.
    static func strftime(_ format: String, at date: Date, in timeZone: TimeZone) -> String {
        var wallClock = time_t(date.timeIntervalSince1970.rounded(.down)) + time_t(timeZone.secondsFromGMT(for: date))
        var parts = tm()
        gmtime_r(&wallClock, &parts)
        var buffer = [Int8](repeating: 0, count: 512)
        let n = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
