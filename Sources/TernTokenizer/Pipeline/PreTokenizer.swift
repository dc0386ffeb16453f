/// Metaspace's rule for adding the replacement character in front of a piece.
enum PrependScheme: String, Sendable {
    case first, always, never
}

/// The pre-tokenizers of tokenizer.json that split text into the pieces the model encodes separately.
indirect enum PreTokenizer: Sendable {
    case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
    /// With `use_regex` the GPT-2 pattern splits first. The byte mapping itself is done by the model,
    /// which sees raw UTF-8 (its vocabulary is stored as bytes), so no transform happens here.
    case byteLevel(addPrefixSpace: Bool, regex: CompiledRegex?)
    case metaspace(replacement: UInt32, prependScheme: PrependScheme, split: Bool)
    case digits(individual: Bool)
    case punctuation(SplitBehavior)
    case whitespace(CompiledRegex)
    case whitespaceSplit
    case bert
    case sequence([PreTokenizer])

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    /// True when a ByteLevel step is present, so the model must receive byte-level input.
    var containsByteLevel: Bool {
        switch self {
        case .byteLevel: return true
        case let .sequence(steps): return steps.contains { $0.containsByteLevel }
        default: return false
        }
    }

    func apply(_ text: inout TextPieces, scratch: inout PreTokenizerScratch) {
        switch self {
        case let .split(pattern, behavior, invert):
            let scalars = text.scalars
            scalars.withUnsafeBufferPointer { buffer in
                scratch.splitter.split(&text, behavior: behavior, invert: invert) { range, emit in
                    pattern.forEachMatch(in: buffer, range: range, scratch: &scratch.regex, emit)
                }
            }
        case let .byteLevel(addPrefixSpace, regex):
            if addPrefixSpace {
                text.transformEach { piece, _, out in
                    if piece.first != 0x20 { out.append(0x20) }
                    out.append(contentsOf: piece)
                }
            }
            if let regex {
                PreTokenizer.split(pattern: .regex(regex), &text, .isolated, scratch: &scratch)
            }
        case let .metaspace(replacement, scheme, split):
            let startsInput = text.startsInput
            text.transformEach { piece, atSegmentStart, out in
                let prepend: Bool
                switch scheme {
                case .always: prepend = true
                case .first: prepend = startsInput && atSegmentStart
                case .never: prepend = false
                }
                let firstScalar = piece.first.map { $0 == 0x20 ? replacement : $0 }
                if prepend, firstScalar != replacement { out.append(replacement) }
                for v in piece { out.append(v == 0x20 ? replacement : v) }
            }
            if split {
                PreTokenizer.splitOnScalars(&text, .mergedWithNext, scratch: &scratch) { $0 == replacement }
            }
        case let .digits(individual):
            // Rust's char::is_numeric: any N* category, not only ASCII digits.
            PreTokenizer.splitOnScalars(&text, individual ? .isolated : .contiguous, scratch: &scratch) {
                $0 < 0x80 ? ($0 >= 0x30 && $0 <= 0x39) : ScalarClass.isNumeric($0)
            }
        case let .punctuation(behavior):
            PreTokenizer.splitOnScalars(&text, behavior, scratch: &scratch, ScalarClass.isPunctuation)
        case let .whitespace(regex):
            // Keeps the `\w+|[^\w\s]+` runs and drops everything between them.
            let scalars = text.scalars
            scalars.withUnsafeBufferPointer { buffer in
                scratch.splitter.split(&text, behavior: .removed, invert: true) { range, emit in
                    regex.forEachMatch(in: buffer, range: range, scratch: &scratch.regex, emit)
                }
            }
        case .whitespaceSplit:
            PreTokenizer.splitOnScalars(&text, .removed, scratch: &scratch, ScalarClass.isWhitespace)
        case .bert:
            PreTokenizer.splitOnScalars(&text, .removed, scratch: &scratch, ScalarClass.isWhitespace)
            PreTokenizer.splitOnScalars(&text, .isolated, scratch: &scratch, ScalarClass.isPunctuation)
        case let .sequence(steps):
            for step in steps { step.apply(&text, scratch: &scratch) }
        }
    }

    private static func split(pattern: SplitPattern, _ text: inout TextPieces, _ behavior: SplitBehavior,
                              scratch: inout PreTokenizerScratch) {
        let scalars = text.scalars
        scalars.withUnsafeBufferPointer { buffer in
            scratch.splitter.split(&text, behavior: behavior, invert: false) { range, emit in
                pattern.forEachMatch(in: buffer, range: range, scratch: &scratch.regex, emit)
            }
        }
    }

    /// Every scalar satisfying `isDelimiter` is one match.
    private static func splitOnScalars(_ text: inout TextPieces, _ behavior: SplitBehavior,
                                       scratch: inout PreTokenizerScratch, _ isDelimiter: (UInt32) -> Bool) {
        let scalars = text.scalars
        scratch.splitter.split(&text, behavior: behavior, invert: false) { range, emit in
            for i in range where isDelimiter(scalars[i]) { emit(i, i + 1) }
        }
    }
}

struct PreTokenizerScratch {
    var splitter = PieceSplitter()
    var regex = CompiledRegex.Scratch()
}

/// What a Split pre-tokenizer or Replace normalizer looks for: a literal string or a regex.
enum SplitPattern: Sendable {
    case literal([UInt32])
    case regex(CompiledRegex)

    func forEachMatch(in text: UnsafeBufferPointer<UInt32>, range: Range<Int>, scratch: inout CompiledRegex.Scratch,
                      _ body: (Int, Int) -> Void) {
        switch self {
        case let .regex(regex):
            regex.forEachMatch(in: text, range: range, scratch: &scratch, body)
        case let .literal(needle):
            guard !needle.isEmpty, range.count >= needle.count else { return }
            var i = range.lowerBound
            let last = range.upperBound - needle.count
            while i <= last {
                var same = true
                for j in 0..<needle.count where text[i + j] != needle[j] { same = false; break }
                if same {
                    body(i, i + needle.count)
                    i += needle.count
                } else {
                    i += 1
                }
            }
        }
    }
}
