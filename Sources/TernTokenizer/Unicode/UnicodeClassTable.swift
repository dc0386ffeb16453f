/// General categories as small integers, looked up from a precomputed table so the regex engine and the
/// pre-tokenizers never call into `Unicode.Scalar.Properties` on their hot path.
enum UnicodeCategory {
    // Bit positions; a set of categories is a `UInt32` mask.
    static let lu: UInt8 = 0, ll: UInt8 = 1, lt: UInt8 = 2, lm: UInt8 = 3, lo: UInt8 = 4
    static let mn: UInt8 = 5, mc: UInt8 = 6, me: UInt8 = 7
    static let nd: UInt8 = 8, nl: UInt8 = 9, no: UInt8 = 10
    static let pc: UInt8 = 11, pd: UInt8 = 12, ps: UInt8 = 13, pe: UInt8 = 14, pi: UInt8 = 15, pf: UInt8 = 16, po: UInt8 = 17
    static let sm: UInt8 = 18, sc: UInt8 = 19, sk: UInt8 = 20, so: UInt8 = 21
    static let zs: UInt8 = 22, zl: UInt8 = 23, zp: UInt8 = 24
    static let cc: UInt8 = 25, cf: UInt8 = 26, cs: UInt8 = 27, co: UInt8 = 28, cn: UInt8 = 29

    static let letterMask: UInt32 = 0b11111
    static let markMask: UInt32 = 0b111 << 5
    static let numberMask: UInt32 = 0b111 << 8
    static let punctuationMask: UInt32 = 0b1111111 << 11
    static let symbolMask: UInt32 = 0b1111 << 18
    static let separatorMask: UInt32 = 0b111 << 22
    static let otherMask: UInt32 = 0b11111 << 25

    /// Mask for a property name as written in `\p{...}`; nil when unknown.
    static func mask(forPropertyName name: String) -> UInt32? {
        let single: [String: UInt32] = [
            "L": letterMask, "Letter": letterMask, "M": markMask, "Mark": markMask, "N": numberMask, "Number": numberMask,
            "P": punctuationMask, "Punctuation": punctuationMask, "S": symbolMask, "Symbol": symbolMask,
            "Z": separatorMask, "Separator": separatorMask, "C": otherMask, "Other": otherMask,
            "Lu": 1 << lu, "Ll": 1 << ll, "Lt": 1 << lt, "Lm": 1 << lm, "Lo": 1 << lo,
            "Mn": 1 << mn, "Mc": 1 << mc, "Me": 1 << me, "Nd": 1 << nd, "Nl": 1 << nl, "No": 1 << no,
            "Pc": 1 << pc, "Pd": 1 << pd, "Ps": 1 << ps, "Pe": 1 << pe, "Pi": 1 << pi, "Pf": 1 << pf, "Po": 1 << po,
            "Sm": 1 << sm, "Sc": 1 << sc, "Sk": 1 << sk, "So": 1 << so, "Zs": 1 << zs, "Zl": 1 << zl, "Zp": 1 << zp,
            "Cc": 1 << cc, "Cf": 1 << cf, "Cs": 1 << cs, "Co": 1 << co, "Cn": 1 << cn,
        ]
        return single[name]
    }

    /// Category index of every scalar below `tableLimit` (planes 0-2, where nearly all text lives).
    private static let tableLimit: UInt32 = 0x30000
    private static let table: [UInt8] = {
        var t = [UInt8](repeating: cn, count: Int(tableLimit))
        for v in 0..<tableLimit {
            if let s = Unicode.Scalar(v) { t[Int(v)] = index(of: s.properties.generalCategory) }
            else { t[Int(v)] = cs }
        }
        return t
    }()

    @inline(__always)
    static func of(_ v: UInt32) -> UInt8 {
        if v < tableLimit { return table.withUnsafeBufferPointer { $0[Int(v)] } }
        guard let s = Unicode.Scalar(v) else { return cs }
        return index(of: s.properties.generalCategory)
    }

    static func index(of c: Unicode.GeneralCategory) -> UInt8 {
        switch c {
        case .uppercaseLetter: return lu
        case .lowercaseLetter: return ll
        case .titlecaseLetter: return lt
        case .modifierLetter: return lm
        case .otherLetter: return lo
        case .nonspacingMark: return mn
        case .spacingMark: return mc
        case .enclosingMark: return me
        case .decimalNumber: return nd
        case .letterNumber: return nl
        case .otherNumber: return no
        case .connectorPunctuation: return pc
        case .dashPunctuation: return pd
        case .openPunctuation: return ps
        case .closePunctuation: return pe
        case .initialPunctuation: return pi
        case .finalPunctuation: return pf
        case .otherPunctuation: return po
        case .mathSymbol: return sm
        case .currencySymbol: return sc
        case .modifierSymbol: return sk
        case .otherSymbol: return so
        case .spaceSeparator: return zs
        case .lineSeparator: return zl
        case .paragraphSeparator: return zp
        case .control: return cc
        case .format: return cf
        case .surrogate: return cs
        case .privateUse: return co
        case .unassigned: return cn
        @unknown default: return cn
        }
    }

    @inline(__always)
    static func isIn(_ v: UInt32, _ mask: UInt32) -> Bool { (mask >> UInt32(of(v))) & 1 != 0 }
}

/// Character predicates shared by the regex engine, normalizers and pre-tokenizers.
enum ScalarClass {
    /// The Unicode White_Space property (what Oniguruma's `\s` and Rust's `char::is_whitespace` test).
    static let whitespaceRanges: [ClosedRange<UInt32>] = [
        0x09...0x0D, 0x20...0x20, 0x85...0x85, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A,
        0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000,
    ]

    @inline(__always)
    static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        if v < 0x85 { return false }
        return v == 0x85 || v == 0xA0 || v == 0x1680 || (v >= 0x2000 && v <= 0x200A) || v == 0x2028 || v == 0x2029
            || v == 0x202F || v == 0x205F || v == 0x3000
    }

    /// Word characters as Oniguruma's and Rust regex's Unicode `\w`: letters, marks, decimal digits, connectors.
    static let wordMask: UInt32 = UnicodeCategory.letterMask | UnicodeCategory.markMask | (1 << UnicodeCategory.nd)
        | (1 << UnicodeCategory.pc)

    @inline(__always)
    static func isWord(_ v: UInt32) -> Bool {
        if v < 0x80 {
            return (v >= 0x30 && v <= 0x39) || (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) || v == 0x5F
        }
        return UnicodeCategory.isIn(v, wordMask) || v == 0x200C || v == 0x200D
    }

    /// Rust regex's Unicode `\w`: Alphabetic, marks, decimal digits, connector punctuation, joiners.
    static func isAlphabeticWord(_ v: UInt32) -> Bool {
        if v < 0x80 { return isWord(v) }
        if UnicodeCategory.isIn(v, wordMask) || v == 0x200C || v == 0x200D { return true }
        return Unicode.Scalar(v)?.properties.isAlphabetic ?? false
    }

    /// `char::is_numeric` from Rust.
    static func isNumeric(_ v: UInt32) -> Bool { UnicodeCategory.isIn(v, UnicodeCategory.numberMask) }

    /// Punctuation as the Punctuation pre-tokenizer sees it: ASCII punctuation or any P* category.
    static func isPunctuation(_ v: UInt32) -> Bool {
        if v < 0x80 {
            return (v >= 0x21 && v <= 0x2F) || (v >= 0x3A && v <= 0x40) || (v >= 0x5B && v <= 0x60) || (v >= 0x7B && v <= 0x7E)
        }
        return UnicodeCategory.isIn(v, UnicodeCategory.punctuationMask)
    }
}
