/// A token matched in the raw text before the model runs (special tokens such as `<|im_end|>`, user-added words).
public struct AddedToken: Sendable, Equatable {
    public let id: Int
    public let content: String
    public let singleWord: Bool
    public let lstrip: Bool
    public let rstrip: Bool
    public let normalized: Bool
    public let special: Bool
}

/// Finds added tokens in text: leftmost match, longest among those starting there, then the
/// single_word / lstrip / rstrip rules of HF's AddedVocabulary.
struct AddedTokenMatcher: Sendable {
    private struct Node: Sendable {
        var children: [UInt32: Int32] = [:]
        var token: Int32 = -1
    }

    private var nodes = [Node()]
    private var tokens: [AddedToken] = []
    /// Fast rejection of positions: ASCII first scalars as a bitmap, others in a set.
    private var asciiFirst = [Bool](repeating: false, count: 128)
    private var otherFirst: Set<UInt32> = []

    var isEmpty: Bool { tokens.isEmpty }

    /// `pattern` is the content as matched (normalized for `normalized` tokens).
    mutating func add(_ token: AddedToken, pattern: [UInt32]) {
        guard let first = pattern.first else { return }
        var node = 0
        for v in pattern {
            if let next = nodes[node].children[v] {
                node = Int(next)
            } else {
                nodes.append(Node())
                nodes[node].children[v] = Int32(nodes.count - 1)
                node = nodes.count - 1
            }
        }
        // The first token registered for a pattern wins, like HF's trie built from the ordered token list.
        if nodes[node].token < 0 {
            tokens.append(token)
            nodes[node].token = Int32(tokens.count - 1)
        }
        if first < 128 { asciiFirst[Int(first)] = true } else { otherFirst.insert(first) }
    }

    enum Span: Equatable {
        case text(Range<Int>)
        case token(Int)
    }

    /// Splits `scalars` into text spans and added-token ids, covering all of it (text spans may be empty-free).
    func split(_ scalars: [UInt32]) -> [Span] {
        if tokens.isEmpty || scalars.isEmpty { return scalars.isEmpty ? [] : [.text(0..<scalars.count)] }
        var spans: [Span] = []
        var startOffset = 0
        var i = 0
        let n = scalars.count
        while i < n {
            let v = scalars[i]
            let candidate = v < 128 ? asciiFirst[Int(v)] : otherFirst.contains(v)
            guard candidate, let (tokenIndex, length) = longestMatch(scalars, at: i) else {
                i += 1
                continue
            }
            let token = tokens[tokenIndex]
            var start = i
            var stop = i + length
            i = stop
            if token.singleWord {
                // HF tests `\w` with Rust's regex crate here.
                let startsWord = start > 0 && ScalarClass.isAlphabeticWord(scalars[start - 1])
                let endsWord = stop < n && ScalarClass.isAlphabeticWord(scalars[stop])
                if startsWord || endsWord { continue }
            }
            if token.lstrip {
                var s = start
                while s > 0, ScalarClass.isWhitespace(scalars[s - 1]) { s -= 1 }
                start = max(s, startOffset)
            }
            if token.rstrip {
                while stop < n, ScalarClass.isWhitespace(scalars[stop]) { stop += 1 }
            }
            // A previous rstrip may already have taken this region.
            if start < startOffset { continue }
            if startOffset < start { spans.append(.text(startOffset..<start)) }
            spans.append(.token(token.id))
            startOffset = stop
            i = max(i, stop)
        }
        if startOffset < n { spans.append(.text(startOffset..<n)) }
        return spans
    }

    private func longestMatch(_ scalars: [UInt32], at start: Int) -> (Int, Int)? {
        var node = 0
        var best: (Int, Int)?
        var i = start
        while i < scalars.count, let next = nodes[node].children[scalars[i]] {
            node = Int(next)
            i += 1
            if nodes[node].token >= 0 { best = (Int(nodes[node].token), i - start) }
        }
        return best
    }
}
