/// A small parser for the Prometheus text exposition format (0.0.4), strict enough to catch
/// malformed output: `# TYPE` / `# HELP` comments, samples `name{label="v",...} value`.
struct PrometheusText {
    struct Sample: Equatable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var types: [String: String] = [:]
    var samples: [Sample] = []

    struct ParseError: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    init(_ text: String) throws {
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let line = String(raw)
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                if parts.count >= 4 && parts[1] == "TYPE" {
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                        throw ParseError(line: number, reason: "unknown type \(parts[3])")
                    }
                    types[parts[2]] = parts[3]
                }
                continue
            }
            samples.append(try Self.sample(line, number))
        }
    }

    static func isNameCharacter(_ c: Character, first: Bool) -> Bool {
        c == "_" || c == ":" || (c.isASCII && c.isLetter) || (!first && c.isASCII && c.isNumber)
    }

    static func sample(_ line: String, _ number: Int) throws -> Sample {
        var i = line.startIndex
        var name = ""
        while i < line.endIndex, isNameCharacter(line[i], first: name.isEmpty) { name.append(line[i]); i = line.index(after: i) }
        guard !name.isEmpty else { throw ParseError(line: number, reason: "no metric name") }
        var labels: [String: String] = [:]
        if i < line.endIndex, line[i] == "{" {
            i = line.index(after: i)
            while i < line.endIndex, line[i] != "}" {
                var key = ""
                while i < line.endIndex, isNameCharacter(line[i], first: key.isEmpty), line[i] != ":" {
                    key.append(line[i]); i = line.index(after: i)
                }
                guard i < line.endIndex, line[i] == "=", !key.isEmpty else { throw ParseError(line: number, reason: "bad label") }
                i = line.index(after: i)
                guard i < line.endIndex, line[i] == "\"" else { throw ParseError(line: number, reason: "label value not quoted") }
                i = line.index(after: i)
                var value = ""
                while i < line.endIndex, line[i] != "\"" {
                    if line[i] == "\\" { i = line.index(after: i) }
                    guard i < line.endIndex else { break }
                    value.append(line[i]); i = line.index(after: i)
                }
                guard i < line.endIndex else { throw ParseError(line: number, reason: "unterminated label value") }
                i = line.index(after: i)
                labels[key] = value
                if i < line.endIndex, line[i] == "," { i = line.index(after: i) }
            }
            guard i < line.endIndex else { throw ParseError(line: number, reason: "unterminated labels") }
            i = line.index(after: i)
        }
        guard i < line.endIndex, line[i] == " " else { throw ParseError(line: number, reason: "no value") }
        let rest = line[line.index(after: i)...].split(separator: " ")
        guard let first = rest.first else { throw ParseError(line: number, reason: "no value") }
        let text = String(first)
        let value: Double? = text == "+Inf" ? .infinity : text == "-Inf" ? -.infinity : Double(text)
        guard let value else { throw ParseError(line: number, reason: "bad value \(text)") }
        return Sample(name: name, labels: labels, value: value)
    }

    func value(_ name: String) -> Double? { samples.first { $0.name == name }?.value }
}
