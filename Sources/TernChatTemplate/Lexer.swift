import Foundation

/// One lexical token of a template, with where it starts (1-based line and column).
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case blockBegin, blockEnd
        case variableBegin, variableEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }

    var kind: Kind
    var line: Int
    var column: Int
}

/// Splits template source into text and tag tokens, applying whitespace control exactly as
/// jinja2 does with `trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False`:
/// `-` strips all whitespace on that side, `+` disables lstrip, a block or comment tag eats one
/// newline after it, and whitespace from the line start up to a block or comment tag is dropped.
struct Lexer {
    private let src: [Unicode.Scalar]
    private var lineStarts: [Int] = [0]
    private var pos = 0
    private var tokens: [Token] = []
    /// Whether the previous match ended in a newline (jinja2's `line_starting`).
    private var lineStarting = true

    init(source: String) {
        // jinja2 normalizes newlines to "\n" and drops one trailing newline.
        var text = source.replacingNewlines()
        if text.hasSuffix("\n") { text.removeLast() }
        src = Array(text.unicodeScalars)
        for (i, s) in src.enumerated() where s == "\n" { lineStarts.append(i + 1) }
    }

    static func tokenize(_ source: String) throws -> [Token] {
        var lexer = Lexer(source: source)
        try lexer.run()
        return lexer.tokens
    }

    private func location(_ offset: Int) -> (line: Int, column: Int) {
        var lo = 0
        var hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return (lo + 1, offset - lineStarts[lo] + 1)
    }

    private func error(_ message: String, at offset: Int) -> ChatTemplateError {
        let (l, c) = location(min(offset, max(0, src.count)))
        return .syntax(message: message, line: l, column: c)
    }

    private mutating func emit(_ kind: Token.Kind, at offset: Int) {
        let (l, c) = location(offset)
        tokens.append(Token(kind: kind, line: l, column: c))
    }

    private func at(_ i: Int) -> Unicode.Scalar? { i < src.count ? src[i] : nil }

    private func matches(_ literal: String, at i: Int) -> Bool {
        var j = i
        for s in literal.unicodeScalars {
            guard j < src.count, src[j] == s else { return false }
            j += 1
        }
        return true
    }

    private func skipWhitespace(from i: Int) -> Int {
        var j = i
        while j < src.count, src[j].isPythonWhitespace { j += 1 }
        return j
    }

    private mutating func run() throws {
        while pos < src.count {
            guard let tagStart = nextTagStart(from: pos) else {
                emit(.text(String(scalars: src[pos...])), at: pos)
                break
            }
            let opener = src[tagStart + 1]
            var afterOpener = tagStart + 2
            var sign: Unicode.Scalar? = nil
            if let s = at(afterOpener), s == "-" || s == "+" {
                sign = s
                afterOpener += 1
            }
            let rawEnd = opener == "%" ? rawBlockOpenEnd(from: afterOpener) : nil
            var text = Array(src[pos..<tagStart])
            applyLeftStrip(&text, sign: sign, isVariable: opener == "{")
            if !text.isEmpty { emit(.text(String(scalars: text[...])), at: pos) }

            if let rawEnd {
                try lexRaw(contentStart: rawEnd)
                continue
            }
            switch opener {
            case "#": try lexComment(contentStart: afterOpener, tagStart: tagStart)
            case "%":
                emit(.blockBegin, at: tagStart)
                pos = afterOpener
                try lexTagBody(isBlock: true, tagStart: tagStart)
            default:
                emit(.variableBegin, at: tagStart)
                pos = afterOpener
                try lexTagBody(isBlock: false, tagStart: tagStart)
            }
        }
        emit(.eof, at: src.count)
    }

    private func nextTagStart(from i: Int) -> Int? {
        var j = i
        while j + 1 < src.count {
            if src[j] == "{", src[j + 1] == "{" || src[j + 1] == "%" || src[j + 1] == "#" { return j }
            j += 1
        }
        return nil
    }

    /// Text before a tag: `-` strips trailing whitespace; otherwise lstrip_blocks drops the
    /// whitespace between the last newline (or a line start) and a block or comment tag.
    private func applyLeftStrip(_ text: inout [Unicode.Scalar], sign: Unicode.Scalar?, isVariable: Bool) {
        if sign == "-" {
            while let last = text.last, last.isPythonWhitespace { text.removeLast() }
        } else if sign != "+" && !isVariable {
            let lPos = (text.lastIndex(of: "\n") ?? -1) + 1
            if lPos > 0 || lineStarting {
                let tail = text[lPos...]
                if !tail.isEmpty && tail.allSatisfy({ $0.isPythonWhitespace }) {
                    text.removeSubrange(lPos...)
                }
            }
        }
    }

    /// If `{% raw %}` starts here (after the sign), returns where its content begins.
    private func rawBlockOpenEnd(from i: Int) -> Int? {
        var j = skipWhitespace(from: i)
        guard matches("raw", at: j) else { return nil }
        j = skipWhitespace(from: j + 3)
        if matches("-%}", at: j) { return skipWhitespace(from: j + 3) }
        if matches("%}", at: j) { return j + 2 }
        return nil
    }

    private mutating func lexRaw(contentStart: Int) throws {
        var j = contentStart
        while let t = nextTagStart(from: j) {
            defer { j = t + 1 }
            guard src[t + 1] == "%" else { continue }
            var k = t + 2
            var sign: Unicode.Scalar? = nil
            if let s = at(k), s == "-" || s == "+" { sign = s; k += 1 }
            k = skipWhitespace(from: k)
            guard matches("endraw", at: k) else { continue }
            k = skipWhitespace(from: k + 6)
            var end: Int
            if matches("+%}", at: k) {
                end = k + 3
            } else if matches("-%}", at: k) {
                end = skipWhitespace(from: k + 3)
            } else if matches("%}", at: k) {
                end = k + 2
                if at(end) == "\n" { end += 1 }
            } else {
                continue
            }
            var text = Array(src[contentStart..<t])
            lineStarting = contentStart > 0 && src[contentStart - 1] == "\n"
            applyLeftStrip(&text, sign: sign, isVariable: false)
            if !text.isEmpty { emit(.text(String(scalars: text[...])), at: contentStart) }
            pos = end
            lineStarting = src[end - 1] == "\n"
            return
        }
        throw error("Missing end of raw directive", at: contentStart)
    }

    private mutating func lexComment(contentStart: Int, tagStart: Int) throws {
        var q = contentStart
        while q + 1 < src.count, !(src[q] == "#" && src[q + 1] == "}") { q += 1 }
        guard q + 1 < src.count else { throw error("Missing end of comment tag", at: tagStart) }
        var end = q + 2
        if q - 1 >= contentStart && src[q - 1] == "-" {
            end = skipWhitespace(from: end)
        } else if q - 1 >= contentStart && src[q - 1] == "+" {
            // keep following whitespace
        } else if at(end) == "\n" {
            end += 1
        }
        pos = end
        lineStarting = src[end - 1] == "\n"
    }

    private mutating func lexTagBody(isBlock: Bool, tagStart: Int) throws {
        var balancing: [Unicode.Scalar] = []
        while true {
            guard pos < src.count else {
                throw error("unexpected end of template, expected '\(isBlock ? "%}" : "}}")'", at: tagStart)
            }
            if balancing.isEmpty, let end = tagEnd(isBlock: isBlock) {
                emit(isBlock ? .blockEnd : .variableEnd, at: pos)
                pos = end
                lineStarting = src[end - 1] == "\n"
                return
            }
            let c = src[pos]
            if c.isPythonWhitespace {
                pos += 1
                continue
            }
            let start = pos
            if c.isASCIIDigit {
                emit(try lexNumber(), at: start)
            } else if c == "_" || c.properties.isXIDStart {
                var j = pos + 1
                while j < src.count, src[j] == "_" || src[j].properties.isXIDContinue { j += 1 }
                emit(.name(String(scalars: src[pos..<j])), at: start)
                pos = j
            } else if c == "'" || c == "\"" {
                emit(.string(try lexString()), at: start)
            } else if let op = matchOperator() {
                switch op {
                case "(": balancing.append(")")
                case "[": balancing.append("]")
                case "{": balancing.append("}")
                case ")", "]", "}":
                    guard let expected = balancing.popLast() else { throw error("unexpected '\(op)'", at: start) }
                    if String(expected) != op { throw error("unexpected '\(op)', expected '\(expected)'", at: start) }
                default: break
                }
                emit(.op(op), at: start)
                pos += op.unicodeScalars.count
            } else {
                throw error("unexpected character '\(c)'", at: start)
            }
        }
    }

    /// Where the tag ends if its closing delimiter starts here, consuming trim whitespace.
    private func tagEnd(isBlock: Bool) -> Int? {
        if isBlock {
            if matches("+%}", at: pos) { return pos + 3 }
            if matches("-%}", at: pos) { return skipWhitespace(from: pos + 3) }
            if matches("%}", at: pos) { return at(pos + 2) == "\n" ? pos + 3 : pos + 2 }
        } else {
            if matches("-}}", at: pos) { return skipWhitespace(from: pos + 3) }
            if matches("}}", at: pos) { return pos + 2 }
        }
        return nil
    }

    private static let operators = ["//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[", "]",
                                    "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"]

    private func matchOperator() -> String? {
        Self.operators.first { matches($0, at: pos) }
    }

    private mutating func digits(from i: Int) -> Int {
        // (\d+_)*\d+
        var j = i
        while j < src.count, src[j].isASCIIDigit || (src[j] == "_" && j + 1 < src.count && src[j + 1].isASCIIDigit && j > i) {
            j += 1
        }
        return j
    }

    private mutating func lexNumber() throws -> Token.Kind {
        let start = pos
        var j = digits(from: pos)
        var isFloat = false
        let afterDot = start > 0 && src[start - 1] == "."
        if !afterDot {
            if j + 1 < src.count, src[j] == ".", src[j + 1].isASCIIDigit {
                j = digits(from: j + 1)
                isFloat = true
            }
            if j < src.count, src[j] == "e" || src[j] == "E" {
                var k = j + 1
                if k < src.count, src[k] == "+" || src[k] == "-" { k += 1 }
                if k < src.count, src[k].isASCIIDigit {
                    j = digits(from: k)
                    isFloat = true
                }
            }
        }
        pos = j
        let text = String(scalars: src[start..<j]).replacingOccurrences(of: "_", with: "")
        if isFloat { return .float(Double(text) ?? 0) }
        guard let value = Int(text) else { throw error("integer literal \(text) is too large", at: start) }
        return .integer(value)
    }

    /// A quoted string literal, decoded with Python's escape rules.
    private mutating func lexString() throws -> String {
        let quote = src[pos]
        let start = pos
        var j = pos + 1
        var out = String.UnicodeScalarView()
        while true {
            guard j < src.count else { throw error("unterminated string", at: start) }
            let c = src[j]
            if c == quote { j += 1; break }
            if c != "\\" { out.append(c); j += 1; continue }
            guard j + 1 < src.count else { throw error("unterminated string", at: start) }
            let e = src[j + 1]
            j += 2
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                guard j + width <= src.count,
                    let v = UInt32(String(scalars: src[j..<j + width]), radix: 16),
                    let scalar = Unicode.Scalar(v)
                else { throw error("invalid \\\(e) escape in string", at: j - 2) }
                out.append(scalar)
                j += width
            case "0"..."7":
                var v = e.value - 48
                var k = 0
                while k < 2, j < src.count, ("0"..."7").contains(src[j]) {
                    v = v * 8 + src[j].value - 48
                    j += 1
                    k += 1
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default:
                out.append("\\")
                out.append(e)
            }
        }
        pos = j
        return String(out)
    }
}

extension Unicode.Scalar {
    /// Python's `str.isspace` for the characters templates contain.
    var isPythonWhitespace: Bool {
        switch value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        default: return value > 0x7F && properties.isWhitespace
        }
    }

    var isASCIIDigit: Bool { value >= 48 && value <= 57 }
}

extension String {
    init<S: Sequence>(scalars: S) where S.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self = String(view)
    }

    /// "\r\n" and "\r" become "\n", as jinja2's lexer does.
    func replacingNewlines() -> String {
        guard unicodeScalars.contains("\r") else { return self }
        var out = String.UnicodeScalarView()
        var previousCR = false
        for s in unicodeScalars {
            if s == "\r" {
                out.append("\n")
                previousCR = true
                continue
            }
            if s == "\n" && previousCR { previousCR = false; continue }
            previousCR = false
            out.append(s)
        }
        return String(out)
    }
}
