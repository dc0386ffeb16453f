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

    private static let dayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    private static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August",
                                     "September", "October", "November", "December"]

    /// `datetime.now().strftime(format)`: the wall-clock time of `date` in `timeZone`. Names are
    /// English whatever the environment's locale, as Python leaves LC_TIME at "C".
    static func strftime(_ format: String, at date: Date, in timeZone: TimeZone) -> String {
        var wallClock = time_t(date.timeIntervalSince1970.rounded(.down)) + time_t(timeZone.secondsFromGMT(for: date))
        var t = tm()
        gmtime_r(&wallClock, &t)
        func pad(_ v: Int32, _ width: Int = 2, _ fill: Character = "0") -> String {
            let s = String(v)
            return String(repeating: fill, count: max(0, width - s.count)) + s
        }
        var out = ""
        var chars = format.makeIterator()
        while let c = chars.next() {
            guard c == "%" else { out.append(c); continue }
            guard let d = chars.next() else { out.append("%"); break }
            switch d {
            case "Y": out += String(t.tm_year + 1900)
            case "y": out += pad((t.tm_year + 1900) % 100)
            case "m": out += pad(t.tm_mon + 1)
            case "d": out += pad(t.tm_mday)
            case "e": out += pad(t.tm_mday, 2, " ")
            case "H": out += pad(t.tm_hour)
            case "I": out += pad(t.tm_hour % 12 == 0 ? 12 : t.tm_hour % 12)
            case "M": out += pad(t.tm_min)
            case "S": out += pad(t.tm_sec)
            case "p": out += t.tm_hour < 12 ? "AM" : "PM"
            case "j": out += pad(t.tm_yday + 1, 3)
            case "a": out += String(dayNames[Int(t.tm_wday)].prefix(3))
            case "A": out += dayNames[Int(t.tm_wday)]
            case "b", "h": out += String(monthNames[Int(t.tm_mon)].prefix(3))
            case "B": out += monthNames[Int(t.tm_mon)]
            case "w": out += String(t.tm_wday)
            case "F": out += "\(t.tm_year + 1900)-\(pad(t.tm_mon + 1))-\(pad(t.tm_mday))"
            case "T": out += "\(pad(t.tm_hour)):\(pad(t.tm_min)):\(pad(t.tm_sec))"
            case "%": out += "%"
            default: out += "%" + String(d)
            }
        }
        return out
    }
}
