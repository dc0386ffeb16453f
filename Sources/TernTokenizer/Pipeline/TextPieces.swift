/// A segment of text being pre-tokenized: its scalars and the pieces it is split into so far.
/// Splitting only rewrites `pieces`; transforms (Metaspace, prefix space) rebuild `scalars`.
struct TextPieces {
    var scalars: [UInt32]
    var pieces: [Range<Int>]
    /// Whether the segment starts at the start of the original input (Metaspace `prepend_scheme: first`).
    var startsInput: Bool

    init(scalars: [UInt32], startsInput: Bool) {
        self.scalars = scalars
        self.pieces = scalars.isEmpty ? [] : [0..<scalars.count]
        self.startsInput = startsInput
    }

    /// Rewrites every piece through `transform`, which appends the new scalars of one piece to the buffer it gets.
    /// `transform` receives the piece's scalars and whether the piece starts at the segment's start.
    mutating func transformEach(_ transform: (ArraySlice<UInt32>, Bool, inout [UInt32]) -> Void) {
        var newScalars: [UInt32] = []
        newScalars.reserveCapacity(scalars.count + pieces.count)
        var newPieces: [Range<Int>] = []
        newPieces.reserveCapacity(pieces.count)
        for piece in pieces {
            let start = newScalars.count
            transform(scalars[piece], piece.lowerBound == 0, &newScalars)
            if newScalars.count > start { newPieces.append(start..<newScalars.count) }
        }
        scalars = newScalars
        pieces = newPieces
    }
}

/// How a split keeps the delimiters it finds (HF's SplitDelimiterBehavior).
enum SplitBehavior: String, Sendable {
    case removed = "Removed"
    case isolated = "Isolated"
    case mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext"
    case contiguous = "Contiguous"
}

/// Applies a split behaviour to the matches found in each piece.
struct PieceSplitter {
    /// Per piece: alternating spans covering it, each flagged as a match or not.
    private var spans: [(start: Int, end: Int, isMatch: Bool)] = []
    private var kept: [(start: Int, end: Int, remove: Bool)] = []
    private var output: [Range<Int>] = []

    /// `findMatches(range, emit)` must emit the matches inside `range` in order, without overlap.
    mutating func split(_ text: inout TextPieces, behavior: SplitBehavior, invert: Bool,
                        findMatches: (Range<Int>, (Int, Int) -> Void) -> Void) {
        output.removeAll(keepingCapacity: true)
        for piece in text.pieces {
            spans.removeAll(keepingCapacity: true)
            var previous = piece.lowerBound
            findMatches(piece) { start, end in
                if previous < start { spans.append((previous, start, invert)) }
                spans.append((start, end, !invert))
                previous = end
            }
            if previous < piece.upperBound { spans.append((previous, piece.upperBound, invert)) }
            apply(behavior)
            for k in kept where !k.remove && k.end > k.start { output.append(k.start..<k.end) }
        }
        swap(&text.pieces, &output)
    }

    private mutating func apply(_ behavior: SplitBehavior) {
        kept.removeAll(keepingCapacity: true)
        switch behavior {
        case .isolated:
            for s in spans { kept.append((s.start, s.end, false)) }
        case .removed:
            for s in spans { kept.append((s.start, s.end, s.isMatch)) }
        case .contiguous:
            var previousMatch = false
            for s in spans {
                if s.isMatch == previousMatch, !kept.isEmpty { kept[kept.count - 1].end = s.end }
                else { kept.append((s.start, s.end, false)) }
                previousMatch = s.isMatch
            }
        case .mergedWithPrevious:
            var previousMatch = false
            for s in spans {
                if s.isMatch, !previousMatch, !kept.isEmpty { kept[kept.count - 1].end = s.end }
                else { kept.append((s.start, s.end, false)) }
                previousMatch = s.isMatch
            }
        case .mergedWithNext:
            var previousMatch = false
            for s in spans.reversed() {
                if s.isMatch, !previousMatch, !kept.isEmpty { kept[kept.count - 1].start = s.start }
                else { kept.append((s.start, s.end, false)) }
                previousMatch = s.isMatch
            }
            kept.reverse()
        }
    }
}
