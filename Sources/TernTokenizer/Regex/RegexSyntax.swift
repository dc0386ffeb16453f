/// The parsed form of a pattern: the subset of Oniguruma syntax that tokenizer.json files use.
indirect enum RegexNode: Sendable {
    case empty
    case set(ScalarSet)
    case concat([RegexNode])
    case alternation([RegexNode])
    /// `max == nil` means unbounded.
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    case lookahead(RegexNode, negated: Bool)
}

public struct RegexSyntaxError: Error, CustomStringConvertible, Sendable {
    public let pattern: String
    public let message: String
    public var description: String { "unsupported regex \(message) in pattern \(pattern)" }
}

/// Recursive-descent parser over the pattern's scalars.
struct RegexParser {
    private let pattern: String
    private let chars: [UInt32]
    private var pos = 0
    /// `\w` as Rust's regex crate reads it (HF's built-in Whitespace pattern) instead of Oniguruma's.
    private let rustWord: Bool

    init(_ pattern: String, rustWord: Bool) {
        self.pattern = pattern
        self.chars = pattern.unicodeScalars.map(\.value)
        self.rustWord = rustWord
    }

    static func parse(_ pattern: String, rustWord: Bool = false) throws -> RegexNode {
        var p = RegexParser(pattern, rustWord: rustWord)
        let node = try p.parseAlternation(caseInsensitive: false)
        if p.pos != p.chars.count { throw p.error("unbalanced ')'") }
        return node
    }

    private func error(_ message: String) -> RegexSyntaxError {
        RegexSyntaxError(pattern: pattern, message: "\(message) at offset \(pos)")
    }

    private var atEnd: Bool { pos >= chars.count }
    private func peek(_ offset: Int = 0) -> UInt32? { pos + offset < chars.count ? chars[pos + offset] : nil }

    private mutating func parseAlternation(caseInsensitive: Bool) throws -> RegexNode {
        var ci = caseInsensitive
        var branches = [try parseConcat(caseInsensitive: &ci)]
        while peek() == 0x7C {  // |
            pos += 1
            branches.append(try parseConcat(caseInsensitive: &ci))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcat(caseInsensitive ci: inout Bool) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != 0x7C, c != 0x29 {
            // Inline flag group `(?i)` changes the rest of the enclosing group.
            if c == 0x28, peek(1) == 0x3F, peek(2) == 0x69, peek(3) == 0x29 {
                pos += 4
                ci = true
                continue
            }
            let atom = try parseAtom(caseInsensitive: ci)
            items.append(try parseQuantifier(atom))
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func parseQuantifier(_ atom: RegexNode) throws -> RegexNode {
        guard let c = peek() else { return atom }
        var minCount = 0
        var maxCount: Int?
        switch c {
        case 0x2A: minCount = 0; maxCount = nil; pos += 1  // *
        case 0x2B: minCount = 1; maxCount = nil; pos += 1  // +
        case 0x3F: minCount = 0; maxCount = 1; pos += 1  // ?
        case 0x7B:  // {m,n}
            guard let (m, n, length) = parseBraces() else { return atom }
            minCount = m
            maxCount = n
            pos += length
        default: return atom
        }
        var greedy = true
        if peek() == 0x3F { greedy = false; pos += 1 }
        else if peek() == 0x2B { throw error("possessive quantifier") }
        return .repetition(atom, min: minCount, max: maxCount, greedy: greedy)
    }

    /// Parses `{m}`, `{m,}`, `{m,n}`, `{,n}` at `pos`; nil when the brace is a literal.
    private func parseBraces() -> (Int, Int?, Int)? {
        var i = pos + 1
        func number() -> Int? {
            var value: Int?
            while i < chars.count, chars[i] >= 0x30, chars[i] <= 0x39 {
                value = (value ?? 0) * 10 + Int(chars[i] - 0x30)
                i += 1
            }
            return value
        }
        let m = number()
        if i < chars.count, chars[i] == 0x7D {
            guard let m else { return nil }
            return (m, m, i + 1 - pos)
        }
        guard i < chars.count, chars[i] == 0x2C else { return nil }
        i += 1
        let n = number()
        guard i < chars.count, chars[i] == 0x7D, m != nil || n != nil else { return nil }
        return (m ?? 0, n, i + 1 - pos)
    }

    private mutating func parseAtom(caseInsensitive ci: Bool) throws -> RegexNode {
        let c = chars[pos]
        switch c {
        case 0x28:  // (
            pos += 1
            var innerCI = ci
            var lookahead: Bool?
            if peek() == 0x3F {  // ?
                pos += 1
                switch peek() {
                case 0x3A: pos += 1  // (?:
                case 0x21: pos += 1; lookahead = true  // (?!
                case 0x3D: pos += 1; lookahead = false  // (?=
                case 0x69 where peek(1) == 0x3A: pos += 2; innerCI = true  // (?i:
                case 0x2D where peek(1) == 0x69 && peek(2) == 0x3A: pos += 3; innerCI = false  // (?-i:
                default: throw error("group syntax")
                }
            }
            let inner = try parseAlternation(caseInsensitive: innerCI)
            guard peek() == 0x29 else { throw error("missing ')'") }
            pos += 1
            if let negated = lookahead { return .lookahead(inner, negated: negated) }
            return inner
        case 0x5B:  // [
            pos += 1
            var set = try parseClass()
            if ci { set.addCaseVariants() }
            return .set(set)
        case 0x2E:  // . (any but newline)
            pos += 1
            var set = ScalarSet(items: [.range(0x0A, 0x0A)], negated: true)
            set.finalize()
            return .set(set)
        case 0x5C:  // backslash
            pos += 1
            var set = try parseEscape(inClass: false)
            if ci { set.addCaseVariants() }
            return .set(set)
        case 0x5E, 0x24: throw error("anchor")
        case 0x29, 0x2A, 0x2B, 0x3F: throw error("misplaced metacharacter")
        default:
            pos += 1
            var set = ScalarSet.literal(c)
            if ci { set.addCaseVariants() }
            return .set(set)
        }
    }

    private mutating func parseClass() throws -> ScalarSet {
        var set = ScalarSet()
        if peek() == 0x5E { set.negated = true; pos += 1 }
        var first = true
        while true {
            guard let c = peek() else { throw error("unterminated class") }
            if c == 0x5D && !first { pos += 1; break }
            first = false
            if c == 0x5B {
                if peek(1) == 0x3A { throw error("POSIX bracket") }
                pos += 1
                set.items.append(.set(try parseClass()))
                continue
            }
            if c == 0x26, peek(1) == 0x26 { throw error("class intersection") }
            var lowValue: UInt32
            if c == 0x5C {
                pos += 1
                let escaped = try parseEscape(inClass: true)
                guard escaped.items.count == 1, !escaped.negated, case let .range(lo, hi) = escaped.items[0], lo == hi else {
                    set.items.append(.set(escaped))
                    continue
                }
                lowValue = lo
            } else {
                pos += 1
                lowValue = c
            }
            // A range `a-b` unless the dash ends the class.
            if peek() == 0x2D, let next = peek(1), next != 0x5D {
                pos += 1
                var highValue: UInt32
                if next == 0x5C {
                    pos += 1
                    let escaped = try parseEscape(inClass: true)
                    guard escaped.items.count == 1, case let .range(lo, hi) = escaped.items[0], lo == hi else {
                        throw error("class range end")
                    }
                    highValue = lo
                } else {
                    pos += 1
                    highValue = next
                }
                guard highValue >= lowValue else { throw error("reversed class range") }
                set.items.append(.range(lowValue, highValue))
            } else {
                set.items.append(.range(lowValue, lowValue))
            }
        }
        set.finalize()
        return set
    }

    /// Parses what follows a backslash (already consumed).
    private mutating func parseEscape(inClass: Bool) throws -> ScalarSet {
        guard let c = peek() else { throw error("trailing backslash") }
        pos += 1
        func single(_ v: UInt32) -> ScalarSet { ScalarSet.literal(v) }
        func make(_ item: ScalarSet.Item) -> ScalarSet {
            var s = ScalarSet(items: [item])
            s.finalize()
            return s
        }
        switch c {
        case 0x6E: return single(0x0A)  // n
        case 0x72: return single(0x0D)  // r
        case 0x74: return single(0x09)  // t
        case 0x66: return single(0x0C)  // f
        case 0x76: return single(0x0B)  // v
        case 0x61: return single(0x07)  // a
        case 0x65: return single(0x1B)  // e
        case 0x73: return make(.whitespace(negated: false))  // s
        case 0x53: return make(.whitespace(negated: true))  // S
        case 0x64: return make(.categories(1 << UInt32(UnicodeCategory.nd), negated: false))  // d
        case 0x44: return make(.categories(1 << UInt32(UnicodeCategory.nd), negated: true))  // D
        case 0x77: return make(rustWord ? .alphabeticWord(negated: false) : .word(negated: false))  // w
        case 0x57: return make(rustWord ? .alphabeticWord(negated: true) : .word(negated: true))  // W
        case 0x70, 0x50:  // p, P
            guard peek() == 0x7B else { throw error("\\p without braces") }
            pos += 1
            var negated = c == 0x50
            if peek() == 0x5E { negated.toggle(); pos += 1 }
            var name = ""
            while let ch = peek(), ch != 0x7D {
                name.unicodeScalars.append(Unicode.Scalar(ch)!)
                pos += 1
            }
            guard peek() == 0x7D else { throw error("unterminated \\p{") }
            pos += 1
            guard let mask = UnicodeCategory.mask(forPropertyName: name) else { throw error("property \\p{\(name)}") }
            return make(.categories(mask, negated: negated))
        case 0x78:  // x
            if peek() == 0x7B {
                pos += 1
                let v = try hexDigits(max: 8, terminator: 0x7D)
                return single(v)
            }
            return single(try hexDigits(exactly: 2))
        case 0x75: return single(try hexDigits(exactly: 4))  // u
        case 0x30: return single(0)
        default:
            let isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
            if isAlnum { throw error("escape \\\(Unicode.Scalar(c)!)") }
            return single(c)
        }
    }

    private mutating func hexDigits(exactly count: Int) throws -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<count {
            guard let c = peek(), let d = hexValue(c) else { throw error("hex escape") }
            v = v * 16 + d
            pos += 1
        }
        return v
    }

    private mutating func hexDigits(max: Int, terminator: UInt32) throws -> UInt32 {
        var v: UInt32 = 0
        var n = 0
        while let c = peek(), c != terminator {
            guard let d = hexValue(c), n < max else { throw error("hex escape") }
            v = v * 16 + d
            n += 1
            pos += 1
        }
        guard peek() == terminator, n > 0 else { throw error("hex escape") }
        pos += 1
        return v
    }

    private func hexValue(_ c: UInt32) -> UInt32? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}
