import Foundation

/// Python `str` operations on Unicode code points. Swift's String compares by grapheme cluster
/// with canonical equivalence, Python by code point; templates must see Python's answers.
enum ScalarString {
    // Substring search works on UTF-8 bytes: a code-point sequence occurs in another exactly when
    // its UTF-8 bytes do (UTF-8 is self-synchronizing), and bytes are cheap to compare.

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    static func text(_ b: ArraySlice<UInt8>) -> String { String(decoding: b, as: UTF8.self) }

    /// Byte offsets where `needle` occurs, left to right, non-overlapping.
    static func occurrences(of needle: [UInt8], in hay: [UInt8], limit: Int = Int.max) -> [Int] {
        guard !needle.isEmpty, needle.count <= hay.count else { return [] }
        var found: [Int] = []
        let first = needle[0]
        let n = needle.count
        hay.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { nd in
                var i = 0
                while i + n <= h.count && found.count < limit {
                    if h[i] == first && memcmp(h.baseAddress! + i, nd.baseAddress!, n) == 0 {
                        found.append(i)
                        i += n
                    } else {
                        i += 1
                    }
                }
            }
        }
        return found
    }

    static func contains(_ hay: String, _ needle: String) -> Bool {
        needle.isEmpty || !occurrences(of: bytes(needle), in: bytes(hay), limit: 1).isEmpty
    }

    static func hasPrefix(_ s: String, _ p: String) -> Bool {
        s.utf8.count >= p.utf8.count && s.utf8.starts(with: p.utf8)
    }

    static func hasSuffix(_ s: String, _ p: String) -> Bool {
        s.utf8.count >= p.utf8.count && s.utf8.reversed().starts(with: p.utf8.reversed())
    }

    /// `str.split(sep, maxsplit)`; a nil separator splits on runs of whitespace.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        guard let separator else {
            let a = Array(s.unicodeScalars)
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
        let a = bytes(s), sep = bytes(separator)
        let hits = occurrences(of: sep, in: a, limit: maxSplit < 0 ? Int.max : maxSplit)
        var parts: [String] = []
        var start = 0
        for h in hits {
            parts.append(text(a[start..<h]))
            start = h + sep.count
        }
        parts.append(text(a[start...]))
        return parts
    }

    /// `str.rsplit(sep, maxsplit)` for an explicit separator.
    static func rsplit(_ s: String, separator: String, maxSplit: Int) -> [String] {
        if maxSplit < 0 { return split(s, separator: separator) }
        let a = bytes(s), sep = bytes(separator)
        var hits = occurrences(of: sep, in: a)
        // Non-overlapping matches scanned from the right can differ for self-overlapping separators; rare.
        if hits.count > maxSplit { hits = Array(hits.suffix(maxSplit)) }
        var parts: [String] = []
        var start = 0
        for h in hits {
            parts.append(text(a[start..<h]))
            start = h + sep.count
        }
        parts.append(text(a[start...]))
        return parts
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        if old.isEmpty {
            // Python inserts `new` between every character (and at both ends).
            var out = String.UnicodeScalarView()
            var n = 0
            for c in s.unicodeScalars {
                if count < 0 || n < count { out.append(contentsOf: new.unicodeScalars); n += 1 }
                out.append(c)
            }
            if count < 0 || n < count { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        let a = bytes(s), o = bytes(old)
        let hits = occurrences(of: o, in: a, limit: count < 0 ? Int.max : count)
        if hits.isEmpty { return s }
        var out: [UInt8] = []
        out.reserveCapacity(a.count)
        var start = 0
        for h in hits {
            out.append(contentsOf: a[start..<h])
            out.append(contentsOf: new.utf8)
            start = h + o.count
        }
        out.append(contentsOf: a[start...])
        return String(decoding: out, as: UTF8.self)
    }

    /// `str.strip/lstrip/rstrip(chars)`; nil chars strips whitespace.
    static func strip(_ s: String, chars: String?, left: Bool, right: Bool) -> String {
        let view = s.unicodeScalars
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set?.contains(c) ?? c.isPythonWhitespace }
        var lo = view.startIndex, hi = view.endIndex
        if left { while lo < hi && strippable(view[lo]) { lo = view.index(after: lo) } }
        if right {
            while hi > lo {
                let before = view.index(before: hi)
                guard strippable(view[before]) else { break }
                hi = before
            }
        }
        if lo == view.startIndex && hi == view.endIndex { return s }
        return String(view[lo..<hi])
    }

    /// Code-point offset of `sub`, or -1.
    static func find(_ s: String, _ sub: String, reverse: Bool) -> Int {
        let a = Array(s.unicodeScalars), b = Array(sub.unicodeScalars)
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
