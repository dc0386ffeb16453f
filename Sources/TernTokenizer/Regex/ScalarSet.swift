/// A set of Unicode scalars as one regex position can match it: a literal, a bracket class, `.`, `\p{..}`, `\s`...
struct ScalarSet: Sendable {
    enum Item: Sendable {
        case range(UInt32, UInt32)
        case categories(UInt32, negated: Bool)
        case whitespace(negated: Bool)
        case word(negated: Bool)
        /// Rust regex's `\w` (Alphabetic, marks, decimal digits, connectors, joiners), used by HF's own regexes.
        case alphabeticWord(negated: Bool)
        case set(ScalarSet)
    }

    var items: [Item] = []
    var negated = false
    /// Membership of the 128 ASCII scalars, filled by `finalize()`; the hot path answers ASCII from it.
    private(set) var asciiLow: UInt64 = 0
    private(set) var asciiHigh: UInt64 = 0

    static func literal(_ v: UInt32) -> ScalarSet {
        var s = ScalarSet(items: [.range(v, v)])
        s.finalize()
        return s
    }

    mutating func finalize() {
        asciiLow = 0
        asciiHigh = 0
        for v in UInt32(0)..<128 where slowContains(v) {
            if v < 64 { asciiLow |= 1 << UInt64(v) } else { asciiHigh |= 1 << UInt64(v - 64) }
        }
    }

    @inline(__always)
    func contains(_ v: UInt32) -> Bool {
        if v < 64 { return (asciiLow >> UInt64(v)) & 1 != 0 }
        if v < 128 { return (asciiHigh >> UInt64(v - 64)) & 1 != 0 }
        return slowContains(v)
    }

    func slowContains(_ v: UInt32) -> Bool {
        var found = false
        for item in items {
            switch item {
            case let .range(lo, hi): found = v >= lo && v <= hi
            case let .categories(mask, neg): found = UnicodeCategory.isIn(v, mask) != neg
            case let .whitespace(neg): found = ScalarClass.isWhitespace(v) != neg
            case let .word(neg): found = ScalarClass.isWord(v) != neg
            case let .alphabeticWord(neg): found = ScalarClass.isAlphabeticWord(v) != neg
            case let .set(inner): found = inner.slowContains(v)
            }
            if found { break }
        }
        return found != negated
    }

    /// Membership of a non-ASCII scalar outside `exceptionRanges()` depends only on its general category;
    /// bit c of the result answers for category c.
    func categoryAnswers() -> UInt32 {
        var mask: UInt32 = 0
        for c in UInt8(0)..<30 where answer(forCategory: c) { mask |= 1 << UInt32(c) }
        return mask
    }

    private func answer(forCategory c: UInt8) -> Bool {
        var found = false
        for item in items {
            switch item {
            case .range: found = false
            case let .categories(mask, neg): found = ((mask >> UInt32(c)) & 1 != 0) != neg
            case let .whitespace(neg): found = neg  // whitespace scalars are exceptions
            case let .word(neg): found = ((ScalarClass.wordMask >> UInt32(c)) & 1 != 0) != neg
            case .alphabeticWord: found = false  // every non-ASCII scalar is an exception
            case let .set(inner): found = inner.answer(forCategory: c)
            }
            if found { break }
        }
        return found != negated
    }

    /// Non-ASCII scalars whose membership is not decided by category alone.
    func exceptionRanges() -> [ClosedRange<UInt32>] {
        var out: [ClosedRange<UInt32>] = []
        for item in items {
            switch item {
            case let .range(lo, hi) where hi >= 128: out.append(max(lo, 128)...hi)
            case .range, .categories: break
            case .whitespace: out += ScalarClass.whitespaceRanges.filter { $0.upperBound >= 128 }
            case .word: out.append(0x200C...0x200D)
            case .alphabeticWord: out.append(128...0x10FFFF)
            case let .set(inner): out += inner.exceptionRanges()
            }
        }
        return out
    }

    /// Adds the other cases of every letter (for `(?i:...)`); simple one-scalar case mappings only.
    mutating func addCaseVariants() {
        var extra: [Item] = []
        for item in items {
            guard case let .range(lo, hi) = item, hi - lo < 2048 else { continue }
            for v in lo...hi {
                for other in ScalarSet.caseVariants(of: v) where !(other >= lo && other <= hi) {
                    extra.append(.range(other, other))
                }
            }
        }
        items += extra
        finalize()
    }

    static func caseVariants(of v: UInt32) -> [UInt32] {
        guard let s = Unicode.Scalar(v) else { return [] }
        var out: [UInt32] = []
        for mapped in [s.properties.lowercaseMapping, s.properties.uppercaseMapping] {
            let scalars = Array(mapped.unicodeScalars)
            if scalars.count == 1, scalars[0].value != v { out.append(scalars[0].value) }
        }
        // Case-folding equivalents Oniguruma also honours.
        switch v {
        case 0x73, 0x53: out.append(0x17F)  // s, S ~ long s
        case 0x6B, 0x4B: out.append(0x212A)  // k, K ~ Kelvin sign
        default: break
        }
        return out
    }
}
