/// Python `str` operations on Unicode code points. Swift's String compares by grapheme cluster
/// with canonical equivalence, Python by code point; templates must see Python's answers.
enum ScalarString {
    static func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }

    /// Offsets where `needle` occurs, left to right, non-overlapping.
    static func occurrences(of needle: [Unicode.Scalar], in hay: [Unicode.Scalar], limit: Int = Int.max) -> [Int] {
        guard !needle.isEmpty, needle.count <= hay.count else { return [] }
        var found: [Int] = []
        var i = 0
        while i + needle.count <= hay.count && found.count < limit {
            if hay[i] == needle[0] && Array(hay[i..<i + needle.count]) == needle {
                found.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        needle.isEmpty || !occurrences(of: scalars(needle), in: scalars(hay), limit: 1).isEmpty
    }

    static func hasPrefix(_ s: String, _ p: String) -> Bool {
        let a = scalars(s), b = scalars(p)
        return b.count <= a.count && Array(a[0..<b.count]) == b
    }

    static func hasSuffix(_ s: String, _ p: String) -> Bool {
        let a = scalars(s), b = scalars(p)
        return b.count <= a.count && Array(a[(a.count - b.count)...]) == b
    }

    /// `str.split(sep, maxsplit)`; a nil separator splits on runs of whitespace.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        let a = scalars(s)
        guard let separator else {
            var parts: [String] = []
            var i = 0
            while i < a.count {
                while i < a.count && a[i].isPythonWhitespace { i += 1 }
                if i >= a.count { break }
                if maxSplit >= 0 && parts.count == maxSplit {
                    // The remainder keeps its trailing whitespace, as in Python.
                    parts.append(String(scalars: a[i...]))
                    break
                }
                let start = i
                while i < a.count && !a[i].isPythonWhitespace { i += 1 }
                parts.append(String(scalars: a[start..<i]))
            }
            return parts
        }
        let sep = scalars(separator)
        let hits = occurrences(of: sep, in: a, limit: maxSplit < 0 ? Int.max : maxSplit)
        var parts: [String] = []
        var start = 0
        for h in hits {
            parts.append(String(scalars: a[start..<h]))
            start = h + sep.count
        }
        parts.append(String(scalars: a[start...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)` for an explicit separator.
    static func rsplit(_ s: String, separator: String, maxSplit: Int) -> [String] {
        if maxSplit < 0 { return split(s, separator: separator) }
        let a = scalars(s), sep = scalars(separator)
        var hits = occurrences(of: sep, in: a)
        // Non-overlapping matches scanned from the right can differ for self-overlapping separators; rare.
        if hits.count > maxSplit { hits = Array(hits.suffix(maxSplit)) }
        var parts: [String] = []
        var start = 0
        for h in hits {
            parts.append(String(scalars: a[start..<h]))
            start = h + sep.count
        }
        parts.append(String(scalars: a[start...]))
        return parts
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        let a = scalars(s), o = scalars(old)
        if o.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            var out = String.UnicodeScalarView()
            var n = 0
            for c in a {
                if count < 0 || n < count { out.append(contentsOf: new.unicodeScalars); n += 1 }
                out.append(c)
            }
            if count < 0 || n < count { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        let hits = occurrences(of: o, in: a, limit: count < 0 ? Int.max : count)
        var out = String.UnicodeScalarView()
        var start = 0
        for h in hits {
            out.append(contentsOf: a[start..<h])
            out.append(contentsOf: new.unicodeScalars)
            start = h + o.count
        }
        out.append(contentsOf: a[start...])
        return String(out)
    }

    /// `str.strip/lstrip/rstrip(chars)`; nil chars strips whitespace.
    static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
        let a = scalars(s)
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? c.isPythonWhitespace }
        var lo = 0, hi = a.count
        if left { while lo < hi && strippable(a[lo]) { lo += 1 } }
        if right { while hi > lo && strippable(a[hi - 1]) { hi -= 1 } }
        return String(scalars: a[lo..<hi])
    }

    static func find(_ s: String, _ sub: String, reverse: Bool) -> Int {
        let a = scalars(s), b = scalars(sub)
        if b.isEmpty { return reverse ? a.count : 0 }
        guard b.count <= a.count else { return -1 }
        let range = Array(0...(a.count - b.count))
        for i in reverse ? range.reversed() : range where Array(a[i..<i + b.count]) == b { return i }
        return -1
    }

    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s {
            let text = String(c)
            out += previousCased ? text.lowercased() : text.uppercased()
            previousCased = c.isLetter
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.first else { return s }
        return String(first).uppercased() + s.dropFirst().lowercased()
    }
}
